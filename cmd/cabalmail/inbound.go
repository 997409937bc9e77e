package main

import (
	"context"
	"fmt"
	"time"

	"github.com/cabalmail/cabalmail/internal/smtpin"
)

// runInbound is `cabalmail inbound tempfail on [--for 4h] | off | status`:
// the operator's switch that turns every 5xx of the MX tier into a 4xx
// while the operator is unsure the "no such user" answers are true.
func runInbound(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 || args[0] != "tempfail" {
		return usagef("usage: cabalmail inbound tempfail on [--for DURATION] | off | status")
	}
	fs, cfgFlag := newFlags(e, "inbound tempfail")
	forFlag := fs.Duration("for", 0, "how long the switch stays on (default: until turned off)")
	pos, err := parseFlags(e, fs, args[1:])
	if err != nil {
		return err
	}
	if len(pos) != 1 || (pos[0] != "on" && pos[0] != "off" && pos[0] != "status") {
		return usagef("usage: cabalmail inbound tempfail on [--for DURATION] | off | status")
	}
	if *forFlag < 0 {
		return usagef("--for: %s is negative", *forFlag)
	}
	if *forFlag != 0 && pos[0] != "on" {
		return usagef("--for applies to \"on\" only")
	}
	a, err := openApp(ctx, e, *cfgFlag)
	if err != nil {
		return err
	}
	defer a.Close()
	switch pos[0] {
	case "on":
		var until time.Time
		if *forFlag > 0 {
			until = time.Now().Add(*forFlag)
		}
		if err := smtpin.SetTempfail(ctx, a.st, until); err != nil {
			return err
		}
	case "off":
		if err := smtpin.ClearTempfail(ctx, a.st); err != nil {
			return err
		}
	}
	st, err := smtpin.ReadTempfail(ctx, a.st, time.Now())
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "inbound tempfail: %s\n", st)
	return nil
}
