package main

import (
	"context"
	"time"

	"github.com/cabalmail/cabalmail/internal/diagnose"
)

// diagnoseTiers are the tiers --tier accepts (DESIGN.md §2).
var diagnoseTiers = map[string]bool{"smtp-in": true, "smtp-out": true, "imap": true, "web": true, "dns": true, "monitor": true}

// runDiagnose is `cabalmail diagnose bounces|deferrals|probes [--since 30m]
// [--tier T] [--json]` (DESIGN.md §5): the on-call questions answered from
// the store, so it works from any node.
func runDiagnose(ctx context.Context, e *env, args []string) error {
	fs, cfgFlag := newFlags(e, "diagnose")
	since := fs.Duration("since", 30*time.Minute, "look at events this far back")
	tier := fs.String("tier", "", "only this tier (smtp-in, smtp-out, imap, web, dns, monitor)")
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parseFlags(e, fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("usage: cabalmail diagnose bounces|deferrals|probes [--since 30m] [--tier T] [--json]")
	}
	what := pos[0]
	if what != "bounces" && what != "deferrals" && what != "probes" {
		return usagef("diagnose: unknown report %q (want bounces, deferrals or probes)", what)
	}
	if *since <= 0 {
		return usagef("diagnose: --since must be positive, got %s", *since)
	}
	if *tier != "" && !diagnoseTiers[*tier] {
		return usagef("diagnose: unknown tier %q (tiers: smtp-in, smtp-out, imap, web, dns, monitor)", *tier)
	}
	a, err := openApp(ctx, e, *cfgFlag)
	if err != nil {
		return err
	}
	defer a.Close()
	now := time.Now()
	opts := diagnose.Options{Since: now.Add(-*since), Tier: *tier, Now: now, Heartbeats: monitorHeartbeats(a.cfg)}
	switch what {
	case "bounces":
		r, err := diagnose.Bounces(ctx, a.st, opts)
		if err != nil {
			return err
		}
		if *asJSON {
			return writeJSON(e.stdout, r)
		}
		return r.WriteText(e.stdout)
	case "deferrals":
		r, err := diagnose.Deferrals(ctx, a.st, opts)
		if err != nil {
			return err
		}
		if *asJSON {
			return writeJSON(e.stdout, r)
		}
		return r.WriteText(e.stdout)
	default:
		r, err := diagnose.Probes(ctx, a.st, opts)
		if err != nil {
			return err
		}
		if *asJSON {
			return writeJSON(e.stdout, r)
		}
		return r.WriteText(e.stdout, now)
	}
}
