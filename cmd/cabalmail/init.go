package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"

	"github.com/cabalmail/cabalmail/internal/config"
	"github.com/cabalmail/cabalmail/internal/domains"
)

func runInit(ctx context.Context, e *env, args []string) error {
	fs := newBareFlags("init")
	dataDir := fs.String("data", "", "data directory to create (required)")
	domain := fs.String("domain", "", "first mail apex, e.g. example.com (required)")
	control := fs.String("control-domain", "", "host names of the service (default mail.<domain>)")
	cert := fs.String("cert", "", "PEM certificate chain to use instead of ACME")
	key := fs.String("key", "", "PEM private key for --cert")
	acmeEmail := fs.String("acme-email", "", "contact address for the ACME (Let's Encrypt) account")
	var ips stringList
	fs.Var(&ips, "public-ip", "public IP address of this host (repeatable); used in the DNS records")
	pos, err := parseFlags(e, fs, args)
	if err != nil {
		return err
	}
	if err := wantArgs("init", pos, 0, ""); err != nil {
		return err
	}
	if *dataDir == "" || *domain == "" {
		return usagef("usage: cabalmail init --data DIR --domain DOMAIN [--control-domain HOST] [--cert FILE --key FILE | --acme-email ADDR] [--public-ip IP]")
	}
	if err := domains.ValidateApex(*domain); err != nil {
		return usagef("--domain: %v", err)
	}
	if *control == "" {
		*control = "mail." + *domain
	}
	if err := domains.ValidateApex(*control); err != nil {
		return usagef("--control-domain: %v", err)
	}
	if (*cert == "") != (*key == "") {
		return usagef("--cert and --key must be given together")
	}
	for _, ip := range ips {
		if net.ParseIP(ip) == nil {
			return usagef("--public-ip: %q is not an IP address", ip)
		}
	}
	for _, p := range []*string{cert, key} {
		if *p == "" {
			continue
		}
		abs, err := filepath.Abs(*p)
		if err != nil {
			return err
		}
		if _, err := os.Stat(abs); err != nil {
			return fmt.Errorf("--cert/--key: %w", err)
		}
		*p = abs
	}

	cfgPath := filepath.Join(*dataDir, "cabalmail.toml")
	if _, err := os.Stat(cfgPath); err == nil {
		return fmt.Errorf("%s already exists; init never overwrites a configuration", cfgPath)
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if err := os.MkdirAll(*dataDir, 0o750); err != nil {
		return fmt.Errorf("create data directory: %w", err)
	}
	tpl := config.ProductionTemplate(*control, ips, *cert, *key, *acmeEmail)
	if err := tpl.WriteNew(cfgPath); err != nil {
		return err
	}
	if abs, err := filepath.Abs(cfgPath); err == nil {
		cfgPath = abs
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		return err
	}
	a, err := openAppConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer a.Close()
	if _, err := a.domains.Ensure(ctx, "operator", *domain); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "wrote %s\n", cfgPath)
	fmt.Fprintf(e.stdout, "created the store and a DKIM key for %s\n", *domain)
	if cfg.TLS.ACME {
		fmt.Fprintf(e.stdout, "TLS certificates will come from ACME for %s and its service host names\n", *control)
	}
	fmt.Fprintf(e.stdout, "\nnext steps:\n")
	fmt.Fprintf(e.stdout, "  export CABALMAIL_CONFIG=%s\n", cfg.Path)
	fmt.Fprintf(e.stdout, "  cabalmail user add NAME --admin\n")
	fmt.Fprintf(e.stdout, "  cabalmail serve\n\n")
	return printRecords(ctx, e.stdout, a, *domain)
}
