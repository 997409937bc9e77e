package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/cabalmail/cabalmail/internal/accounts"
	"github.com/cabalmail/cabalmail/internal/addresses"
	"github.com/cabalmail/cabalmail/internal/config"
	"github.com/cabalmail/cabalmail/internal/domains"
	"github.com/cabalmail/cabalmail/internal/store"
	"github.com/cabalmail/cabalmail/internal/store/sqlite"
)

// newFlags makes a flag set whose errors come back as usage errors instead
// of being printed, and which knows --config.
func newFlags(e *env, name string) (*flag.FlagSet, *string) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	cfg := fs.String("config", "", "configuration file (default $CABALMAIL_CONFIG, then ./cabalmail.toml)")
	return fs, cfg
}

// parseFlags parses flags wherever they appear among the arguments
// ("address new ADDR --user NAME") and returns the positional arguments.
// A lone "--" ends flag parsing.
func parseFlags(e *env, fs *flag.FlagSet, args []string) ([]string, error) {
	var tail []string
	for i, a := range args {
		if a == "--" {
			tail = args[i+1:]
			args = args[:i]
			break
		}
	}
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fs.SetOutput(e.stdout)
				fmt.Fprintf(e.stdout, "usage of cabalmail %s:\n", fs.Name())
				fs.PrintDefaults()
				return nil, flag.ErrHelp
			}
			return nil, usagef("%s: %v", fs.Name(), err)
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return append(positional, tail...), nil
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
}

// wantArgs checks the number of positional arguments.
func wantArgs(cmd string, args []string, n int, names string) error {
	if len(args) != n {
		if n == 0 {
			return usagef("%s takes no arguments, got %q", cmd, strings.Join(args, " "))
		}
		return usagef("usage: cabalmail %s %s", cmd, names)
	}
	return nil
}

// app is what the data commands work with: the configuration, the store and
// the domain services over it.
type app struct {
	cfg       *config.Config
	st        store.Store
	addresses *addresses.Service
	accounts  *accounts.Service
	domains   *domains.Service
}

func (a *app) Close() error { return a.st.Close() }

// configPath picks the file: the command's own flag, the one given before
// the command group, $CABALMAIL_CONFIG, ./cabalmail.toml.
func configPath(e *env, flagValue string) string {
	if flagValue != "" {
		return flagValue
	}
	return config.Resolve(e.configFlag)
}

func openApp(ctx context.Context, e *env, cfgFlag string) (*app, error) {
	cfg, err := config.Load(configPath(e, cfgFlag))
	if err != nil {
		return nil, err
	}
	return openAppConfig(ctx, cfg)
}

func openAppConfig(ctx context.Context, cfg *config.Config) (*app, error) {
	st, err := openStore(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return &app{
		cfg:       cfg,
		st:        st,
		addresses: addresses.New(st, addresses.Options{ControlDomain: cfg.ControlDomain}),
		accounts:  accounts.New(st),
		domains: domains.New(st, domains.Options{
			ControlDomain: cfg.ControlDomain,
			PublicIPs:     cfg.PublicIPs,
			Selector:      cfg.DKIM.Selector,
		}),
	}, nil
}

func openStore(ctx context.Context, cfg *config.Config) (store.Store, error) {
	switch cfg.Store.Driver {
	case "sqlite":
		st, err := sqlite.Open(ctx, cfg.Store.Path)
		if err != nil {
			return nil, fmt.Errorf("open store %s: %w", cfg.Store.Path, err)
		}
		return st, nil
	default:
		return nil, fmt.Errorf("store.driver %q is not available in this version", cfg.Store.Driver)
	}
}

// readPassword reads one line from stdin for --password-stdin.
func readPassword(r io.Reader) (string, error) {
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read password from standard input: %w", err)
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", usagef("--password-stdin: no password on standard input")
	}
	return line, nil
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// newBareFlags is newFlags for commands that take no configuration file.
func newBareFlags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}
