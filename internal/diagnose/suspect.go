package diagnose

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/cabalmail/cabalmail/internal/store"
)

// SuspectProvider is a provider the smtp-out tier does not believe
// (internal/providers): its "unknown recipient" replies are held as
// temporary, so they are deferrals, not bounces, and this is where the
// on-call sees them.
type SuspectProvider struct {
	Provider   string    `json:"provider"`
	Since      time.Time `json:"since"`
	Until      time.Time `json:"until"`
	Reason     string    `json:"reason"`
	Recipients []string  `json:"quarantined"` // the affected recipients, newest first
}

// suspectProviders lists the providers suspect at now with their
// quarantined recipients.
func suspectProviders(ctx context.Context, st Store, now time.Time) ([]SuspectProvider, error) {
	ps, err := st.ListProviders(ctx)
	if err != nil {
		return nil, fmt.Errorf("diagnose: bounces: providers: %w", err)
	}
	out := []SuspectProvider{}
	for _, p := range ps {
		if p.State != store.ProviderSuspect || (!p.Until.IsZero() && !now.Before(p.Until)) {
			continue
		}
		qs, err := st.ListQuarantine(ctx, p.Name, true)
		if err != nil {
			return nil, fmt.Errorf("diagnose: bounces: quarantine of %s: %w", p.Name, err)
		}
		sp := SuspectProvider{Provider: p.Name, Since: p.Since, Until: p.Until, Reason: p.Reason, Recipients: []string{}}
		for _, q := range qs {
			sp.Recipients = append(sp.Recipients, q.Rcpt)
		}
		out = append(out, sp)
	}
	return out, nil
}

// writeSuspect prints the suspect providers, before the bounce counts.
func (r BounceReport) writeSuspect(p *printer) {
	for _, s := range r.Suspect {
		p.f("Suspect provider: %s since %s until %s\n", s.Provider, s.Since.UTC().Format(time.RFC3339), s.Until.UTC().Format(time.RFC3339))
		if s.Reason != "" {
			p.f("  %s\n", s.Reason)
		}
		shown := s.Recipients[:min(len(s.Recipients), topAddresses)]
		more := ""
		if n := len(s.Recipients) - len(shown); n > 0 {
			more = fmt.Sprintf(" and %d more", n)
		}
		p.f("  quarantined (%d): %s%s\n", len(s.Recipients), strings.Join(shown, ", "), more)
		p.f("  its unknown-recipient replies are held as deferrals: cabalmail providers confirm|clear %s\n\n", s.Provider)
	}
}
