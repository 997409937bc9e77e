package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/cabalmail/cabalmail/internal/accounts"
	"github.com/cabalmail/cabalmail/internal/addresses"
	"github.com/cabalmail/cabalmail/internal/config"
	"github.com/cabalmail/cabalmail/internal/tlsutil"
)

const (
	demoUser     = "demo"
	demoAddress  = "hello@welcome." + config.DevDomain
	demoPassword = "demo-password" // file in the data directory holding the demo login
)

func runDev(ctx context.Context, e *env, args []string) error {
	fs := newBareFlags("dev")
	dataDir := fs.String("data", "cabalmail-dev", "data directory (created on first run, reused after)")
	pos, err := parseFlags(e, fs, args)
	if err != nil {
		return err
	}
	if err := wantArgs("dev", pos, 0, ""); err != nil {
		return err
	}
	cfg, err := prepareDev(*dataDir)
	if err != nil {
		return err
	}
	a, err := openAppConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer a.Close()
	password, err := seedDev(ctx, a, *dataDir)
	if err != nil {
		return err
	}
	n, closeLogs, err := newNode(e, cfg, a)
	if err != nil {
		return err
	}
	defer closeLogs()
	roles, err := selectRoles("")
	if err != nil {
		return err
	}
	printDevSummary(e, cfg, *dataDir, roles, password)
	return runNode(ctx, e, n, roles, false)
}

// prepareDev creates the data directory, its configuration and its
// self-signed certificate on first use and loads the configuration.
func prepareDev(dir string) (*config.Config, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	path := filepath.Join(dir, "cabalmail.toml")
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		if err := config.DevTemplate().WriteNew(path); err != nil {
			return nil, err
		}
	}
	cfg, err := config.Load(path)
	if err != nil {
		return nil, err
	}
	if cfg.TLS.Cert != "" {
		if _, err := os.Stat(cfg.TLS.Cert); errors.Is(err, os.ErrNotExist) {
			if err := os.MkdirAll(filepath.Dir(cfg.TLS.Cert), 0o750); err != nil {
				return nil, fmt.Errorf("self-signed certificate: %w", err)
			}
			hosts := append(serviceHosts(cfg.ControlDomain), "localhost", "127.0.0.1", "::1")
			if err := tlsutil.GenerateSelfSigned(cfg.TLS.Cert, cfg.TLS.Key, hosts, 5*365*24*time.Hour); err != nil {
				return nil, fmt.Errorf("self-signed certificate: %w", err)
			}
		}
	}
	return cfg, nil
}

// seedDev makes sure the demo domain, admin user and address exist, and
// returns the demo password (kept in a 0600 file so every run can print it).
func seedDev(ctx context.Context, a *app, dir string) (string, error) {
	if _, err := a.domains.Ensure(ctx, "operator", config.DevDomain); err != nil {
		return "", err
	}
	pwFile := filepath.Join(dir, demoPassword)
	var password string
	if b, err := os.ReadFile(pwFile); err == nil {
		password = strings.TrimSpace(string(b))
	}
	if _, err := a.st.UserByName(ctx, demoUser); err != nil {
		if password == "" {
			password = accounts.GeneratePassword()
		}
		if _, err := a.accounts.Add(ctx, demoUser, password, true); err != nil {
			return "", err
		}
	} else if password == "" {
		// The file was removed: set a fresh password rather than guess.
		password = accounts.GeneratePassword()
		if err := a.accounts.SetPassword(ctx, demoUser, password); err != nil {
			return "", err
		}
	}
	if err := os.WriteFile(pwFile, []byte(password+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("write demo password: %w", err)
	}
	op := addresses.Operator()
	if err := a.addresses.Grant(ctx, op, demoUser, config.DevDomain); err != nil {
		return "", err
	}
	_, err := a.addresses.Create(ctx, op, addresses.CreateRequest{Address: demoAddress, Users: []string{demoUser}, Comment: "demo address"})
	if err != nil && !errors.Is(err, addresses.ErrExists) {
		return "", err
	}
	return password, nil
}

func printDevSummary(e *env, cfg *config.Config, dir string, roles []string, password string) {
	w := e.stdout
	fmt.Fprintf(w, "Cabalmail dev: data in %s, configuration %s\n", dir, filepath.Join(dir, "cabalmail.toml"))
	fmt.Fprintf(w, "  demo domain %s, control domain %s, self-signed certificate %s\n", config.DevDomain, cfg.ControlDomain, cfg.TLS.Cert)
	running := map[string]bool{}
	for _, r := range roles {
		running[r] = true
	}
	avail := availableRoles()
	for _, name := range allRoles {
		if r, ok := avail[name]; ok && running[name] {
			fmt.Fprintf(w, "  %-9s %s\n", name, r.describe(cfg))
		}
	}
	if cfg.Metrics.Listen != "" {
		fmt.Fprintf(w, "  %-9s http://%s/metrics\n", "metrics", cfg.Metrics.Listen)
	}
	var missing []string
	for _, name := range allRoles {
		if _, ok := avail[name]; !ok {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		fmt.Fprintf(w, "  not yet in this version: %s\n", strings.Join(missing, ", "))
	}
	fmt.Fprintf(w, "Demo login: user %q, password %q (admin); demo address %s\n", demoUser, password, demoAddress)
	fmt.Fprintf(w, "Operator commands: cabalmail --config %s user list\n", filepath.Join(dir, "cabalmail.toml"))
	fmt.Fprintf(w, "Press Ctrl-C to stop.\n")
}
