package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/cabalmail/cabalmail/internal/domains"
	"github.com/cabalmail/cabalmail/internal/store"
)

const domainUsage = "domain add APEX | list [--json] | records [APEX]"

func runDomain(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 {
		return usagef("usage: cabalmail %s", domainUsage)
	}
	sub, args := args[0], args[1:]
	fs, cfgFlag := newFlags(e, "domain "+sub)
	asJSON := fs.Bool("json", false, "print JSON (list)")
	pos, err := parseFlags(e, fs, args)
	if err != nil {
		return err
	}
	switch sub {
	case "add":
		if err := wantArgs("domain add", pos, 1, "APEX"); err != nil {
			return err
		}
		if err := domains.ValidateApex(pos[0]); err != nil {
			return err
		}
	case "list":
		if err := wantArgs("domain list", pos, 0, ""); err != nil {
			return err
		}
	case "records":
		if len(pos) > 1 {
			return usagef("usage: cabalmail domain records [APEX]")
		}
	default:
		return usagef("unknown domain command %q; usage: cabalmail %s", sub, domainUsage)
	}
	if *asJSON && sub != "list" {
		return usagef("--json applies only to domain list")
	}

	a, err := openApp(ctx, e, *cfgFlag)
	if err != nil {
		return err
	}
	defer a.Close()

	switch sub {
	case "add":
		d, err := a.domains.Add(ctx, "operator", pos[0])
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "added %s (DKIM selector %s)\n\n", d.Apex, d.DKIMSelector)
		return printRecords(ctx, e.stdout, a, d.Apex)
	case "list":
		list, err := a.st.ListDomains(ctx)
		if err != nil {
			return fmt.Errorf("list domains: %w", err)
		}
		return printDomains(e, list, *asJSON)
	case "records":
		if len(pos) == 1 {
			return printRecords(ctx, e.stdout, a, pos[0])
		}
		list, err := a.st.ListDomains(ctx)
		if err != nil {
			return fmt.Errorf("list domains: %w", err)
		}
		if len(list) == 0 {
			return fmt.Errorf("no apex is configured (add one with \"cabalmail domain add\")")
		}
		for i, d := range list {
			if i > 0 {
				fmt.Fprintln(e.stdout)
			}
			if err := printRecords(ctx, e.stdout, a, d.Apex); err != nil {
				return err
			}
		}
	}
	return nil
}

func printDomains(e *env, list []store.Domain, asJSON bool) error {
	type domainJSON struct {
		Apex         string    `json:"apex"`
		DKIMSelector string    `json:"dkim_selector"`
		CreatedAt    time.Time `json:"created_at"`
	}
	out := make([]domainJSON, 0, len(list))
	for _, d := range list {
		out = append(out, domainJSON{Apex: d.Apex, DKIMSelector: d.DKIMSelector, CreatedAt: d.CreatedAt.UTC()})
	}
	if asJSON {
		return writeJSON(e.stdout, out)
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "APEX\tDKIM SELECTOR\tCREATED")
	for _, d := range out {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", d.Apex, d.DKIMSelector, d.CreatedAt.Format(time.DateTime))
	}
	return tw.Flush()
}

// printRecords prints both ways of publishing an apex: delegation to our
// DNS role, or the full set for operators who keep their own DNS.
func printRecords(ctx context.Context, w io.Writer, a *app, apex string) error {
	rs, err := domains.New(a.st, domainOptions(a.cfg)).Records(ctx, apex)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "; %s, option 1 (recommended): delegate the apex to Cabalmail's DNS role.\n", apex)
	fmt.Fprintf(w, "; Publish these at your registrar; the DNS role then serves every record below and\n")
	fmt.Fprintf(w, "; withdraws a subdomain's records the moment its last address is suspended or revoked.\n")
	for _, r := range rs.Delegation {
		fmt.Fprintln(w, r)
	}
	fmt.Fprintf(w, ";\n; %s, option 2: keep your own DNS and publish all of these. They change whenever an\n", apex)
	fmt.Fprintf(w, "; address is created, suspended or revoked: run \"cabalmail domain records %s\" again then.\n", apex)
	fmt.Fprintf(w, "; Also set the reverse DNS (PTR) of each public IP to smtp.%s.\n", a.cfg.ControlDomain)
	for _, r := range rs.Full {
		fmt.Fprintln(w, r)
	}
	return nil
}
