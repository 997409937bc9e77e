package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/cabalmail/cabalmail/internal/providers"
)

// runProviders is `cabalmail providers [--since 24h] [--json] | confirm P |
// clear P`: recent providers with their counts and state, and the
// operator's decisions on a suspect one.
func runProviders(ctx context.Context, e *env, args []string) error {
	const usage = "usage: cabalmail providers [--since DURATION] [--json] | confirm PROVIDER | clear PROVIDER"
	action := ""
	if len(args) > 0 && (args[0] == "confirm" || args[0] == "clear") {
		action, args = args[0], args[1:]
	}
	fs, cfgFlag := newFlags(e, "providers")
	since := fs.Duration("since", 24*time.Hour, "count attempts of this recent period")
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parseFlags(e, fs, args)
	if err != nil {
		return err
	}
	switch {
	case action == "" && len(pos) != 0, action != "" && len(pos) != 1:
		return usagef(usage)
	case *since <= 0:
		return usagef("--since: %s is not positive", *since)
	}
	a, err := openApp(ctx, e, *cfgFlag)
	if err != nil {
		return err
	}
	defer a.Close()
	tr, err := providers.New(providers.Options{Store: a.st})
	if err != nil {
		return err
	}
	switch action {
	case "confirm":
		n, err := tr.Confirm(ctx, pos[0], "operator")
		if errors.Is(err, providers.ErrUnknownProvider) {
			return fmt.Errorf("%s: no state and no quarantined recipients (see cabalmail providers)", pos[0])
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "%s: bounces confirmed; %d quarantined recipient%s retried now and failed if they bounce again\n", pos[0], n, plural(n))
		return nil
	case "clear":
		n, err := tr.Clear(ctx, pos[0], "operator")
		if errors.Is(err, providers.ErrUnknownProvider) {
			return fmt.Errorf("%s: no state and no quarantined recipients (see cabalmail providers)", pos[0])
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "%s: cleared; %d quarantined recipient%s released and retried now\n", pos[0], n, plural(n))
		return nil
	}
	sums, err := tr.Summaries(ctx, time.Now().Add(-*since))
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(e.stdout, providersJSON(sums))
	}
	printProviders(e.stdout, sums, *since)
	return nil
}

type providerEntry struct {
	Provider     string     `json:"provider"`
	State        string     `json:"state"`
	Since        *time.Time `json:"since,omitempty"`
	Until        *time.Time `json:"until,omitempty"`
	Reason       string     `json:"reason,omitempty"`
	Sent         int        `json:"sent"`
	Deferred     int        `json:"deferred"`
	Bounced      int        `json:"bounced"`
	KnownUnknown int        `json:"known_unknown"`
	Quarantined  int        `json:"quarantined"`
}

func providersJSON(sums []providers.Summary) []providerEntry {
	out := []providerEntry{}
	for _, s := range sums {
		p := providerEntry{Provider: s.Provider, State: string(s.State), Reason: s.Reason, Sent: s.Sent, Deferred: s.Deferred,
			Bounced: s.Bounced, KnownUnknown: s.KnownUnknown, Quarantined: s.Quarantined}
		if !s.Since.IsZero() {
			t := s.Since
			p.Since = &t
		}
		if !s.Until.IsZero() {
			t := s.Until
			p.Until = &t
		}
		out = append(out, p)
	}
	return out
}

func printProviders(w io.Writer, sums []providers.Summary, since time.Duration) {
	if len(sums) == 0 {
		fmt.Fprintf(w, "no delivery attempts to remote providers in the last %s\n", since)
		return
	}
	fmt.Fprintf(w, "%-32s %8s %8s %8s %11s  %s\n", "PROVIDER", "SENT", "DEFERRED", "BOUNCED", "QUARANTINED", "STATE")
	for _, s := range sums {
		state := string(s.State)
		if !s.Until.IsZero() {
			state += " until " + s.Until.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(w, "%-32s %8d %8d %8d %11d  %s\n", s.Provider, s.Sent, s.Deferred, s.Bounced, s.Quarantined, state)
		if s.State != "healthy" && s.Reason != "" {
			fmt.Fprintf(w, "    %s\n", s.Reason)
		}
	}
}
