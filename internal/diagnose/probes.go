package diagnose

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/cabalmail/cabalmail/internal/monitor"
)

// ProbeReport is every probe's state as the monitor role last saved it.
type ProbeReport struct {
	Probes []monitor.ProbeState `json:"probes"`
	// Stale is set when the last round is older than staleAfter: the
	// monitor role is not running (or cannot write to the store).
	Stale bool `json:"stale"`
	// Heartbeats are the periodic jobs' last successes (every tier; not
	// filtered by Options.Tier).
	Heartbeats []HeartbeatState `json:"heartbeats"`
}

// HeartbeatState is one periodic job's last recorded success.
type HeartbeatState struct {
	Job         string        `json:"job"`
	LastSuccess time.Time     `json:"last_success,omitzero"` // zero: never reported
	Period      time.Duration `json:"period_ns"`
	Grace       time.Duration `json:"grace_ns"`
	Late        bool          `json:"late"` // older than period plus grace: HeartbeatMissed fires
}

// staleAfter is how old the newest probe result may be before the report
// says the monitor itself seems down.
const staleAfter = 5 * time.Minute

// Probes reads the probe states the monitor role saved; opts.Tier keeps
// one tier's probes.
func Probes(ctx context.Context, st Store, opts Options) (ProbeReport, error) {
	states, err := monitor.LoadProbeStates(ctx, st)
	if err != nil {
		return ProbeReport{}, fmt.Errorf("diagnose: probes: %w", err)
	}
	r := ProbeReport{Probes: []monitor.ProbeState{}}
	var newest time.Time
	for _, s := range states {
		if s.LastCheck.After(newest) {
			newest = s.LastCheck
		}
		if opts.Tier == "" || s.Tier == opts.Tier {
			r.Probes = append(r.Probes, s)
		}
	}
	r.Stale = len(states) > 0 && opts.now().Sub(newest) > staleAfter
	hbs := opts.Heartbeats
	if hbs == nil {
		hbs = monitor.DefaultHeartbeats
	}
	r.Heartbeats = []HeartbeatState{}
	for _, hb := range hbs {
		last, err := monitor.LastHeartbeat(ctx, st, hb.Job)
		if err != nil {
			return ProbeReport{}, fmt.Errorf("diagnose: probes: %w", err)
		}
		r.Heartbeats = append(r.Heartbeats, HeartbeatState{Job: hb.Job, LastSuccess: last, Period: hb.Period, Grace: hb.Grace,
			Late: !last.IsZero() && opts.now().Sub(last) > hb.Period+hb.Grace})
	}
	return r, nil
}

// WriteText writes the report for people.
func (r ProbeReport) WriteText(w io.Writer, now time.Time) error {
	p := &printer{w: w}
	defer r.writeHeartbeats(p, now)
	if len(r.Probes) == 0 {
		p.f("No probe results in the store: is the monitor role running (cabalmail serve --roles monitor)?\n")
		return p.err
	}
	if r.Stale {
		p.f("Warning: the newest probe result is more than %s old; the monitor role seems to be down.\n\n", staleAfter)
	}
	for _, s := range r.Probes {
		state := "ok"
		if !s.OK {
			state = "FAILING"
		}
		p.f("%-8s %s (checked %s ago, %s)\n", state, s.Name, formatAge(now.Sub(s.LastCheck)), s.Duration.Round(time.Millisecond))
		if !s.CertNotAfter.IsZero() {
			p.f("         certificate expires %s (in %s)\n", s.CertNotAfter.UTC().Format(time.RFC3339), formatAge(s.CertNotAfter.Sub(now)))
		}
		if !s.LastFailure.IsZero() {
			p.f("         last failure %s ago: %s\n", formatAge(now.Sub(s.LastFailure)), s.LastError)
		}
	}
	return p.err
}

// writeHeartbeats lists the periodic jobs after the probes.
func (r ProbeReport) writeHeartbeats(p *printer, now time.Time) {
	if len(r.Heartbeats) == 0 {
		return
	}
	p.f("\nHeartbeats:\n")
	for _, h := range r.Heartbeats {
		switch {
		case h.LastSuccess.IsZero():
			p.f("  %-14s never reported (the job does not run here, or has not yet)\n", h.Job)
		case h.Late:
			p.f("  %-14s LATE: last success %s ago (every %s, grace %s)\n", h.Job, formatAge(now.Sub(h.LastSuccess)), h.Period, h.Grace)
		default:
			p.f("  %-14s last success %s ago (every %s, grace %s)\n", h.Job, formatAge(now.Sub(h.LastSuccess)), h.Period, h.Grace)
		}
	}
}
