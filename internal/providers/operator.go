package providers

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/cabalmail/cabalmail/internal/store"
)

// Summary is one provider as `cabalmail providers` shows it: its counts in
// a recent period and its state.
type Summary struct {
	Provider     string
	State        store.ProviderState
	Since        time.Time // when the state began; zero for a provider never marked
	Until        time.Time // when a suspect or confirmed state lapses
	Reason       string
	Sent         int
	Deferred     int
	Bounced      int
	KnownUnknown int // unknown-recipient replies for recipients that accepted mail before
	Quarantined  int // recipients quarantined now
}

// Summaries returns every provider with attempts since the given time or a
// stored state that is not healthy, suspect ones first, then by attempts.
func (t *Tracker) Summaries(ctx context.Context, since time.Time) ([]Summary, error) {
	now := t.now().UTC().Round(0)
	counts, err := t.st.ListProviderCounts(ctx, since)
	if err != nil {
		return nil, fmt.Errorf("providers: summaries: %w", err)
	}
	states, err := t.st.ListProviders(ctx)
	if err != nil {
		return nil, fmt.Errorf("providers: summaries: %w", err)
	}
	open, err := t.st.ListQuarantine(ctx, "", true)
	if err != nil {
		return nil, fmt.Errorf("providers: summaries: %w", err)
	}
	by := map[string]*Summary{}
	get := func(name string) *Summary {
		s := by[name]
		if s == nil {
			s = &Summary{Provider: name, State: store.ProviderHealthy}
			by[name] = s
		}
		return s
	}
	for _, c := range counts {
		s := get(c.Provider)
		s.Sent, s.Deferred, s.Bounced, s.KnownUnknown = c.Sent, c.Deferred, c.Bounced, c.KnownUnknown
	}
	for _, p := range states {
		lapsed := p.State != store.ProviderHealthy && !p.Until.IsZero() && !now.Before(p.Until)
		if p.State == store.ProviderHealthy || lapsed {
			if s := by[p.Name]; s != nil && !lapsed {
				s.Since, s.Reason = p.Since, p.Reason
			}
			continue
		}
		s := get(p.Name)
		s.State, s.Since, s.Until, s.Reason = p.State, p.Since, p.Until, p.Reason
	}
	for _, q := range open {
		get(q.Provider).Quarantined++
	}
	out := make([]Summary, 0, len(by))
	for _, s := range by {
		out = append(out, *s)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if (a.State == store.ProviderSuspect) != (b.State == store.ProviderSuspect) {
			return a.State == store.ProviderSuspect
		}
		if na, nb := a.Sent+a.Deferred+a.Bounced, b.Sent+b.Deferred+b.Bounced; na != nb {
			return na > nb
		}
		return a.Provider < b.Provider
	})
	return out, nil
}

// Quarantined returns the recipients quarantined now at provider ("" for
// every provider), newest first.
func (t *Tracker) Quarantined(ctx context.Context, provider string) ([]store.Quarantine, error) {
	qs, err := t.st.ListQuarantine(ctx, strings.ToLower(provider), true)
	if err != nil {
		return nil, fmt.Errorf("providers: quarantined: %w", err)
	}
	return qs, nil
}

// ErrUnknownProvider is returned by Confirm and Clear for a provider with
// neither a state nor quarantined recipients.
var ErrUnknownProvider = errors.New("no such provider")

// Confirm is the operator's "the bounces are real": the provider is marked
// confirmed for the suspect period (detection off, its hard bounces fail
// and suppress as usual), and the messages of its quarantined recipients
// are made due now, so their next reply is applied. It returns how many
// recipients were quarantined.
func (t *Tracker) Confirm(ctx context.Context, provider, by string) (int, error) {
	now := t.now().UTC().Round(0)
	provider, qs, p, err := t.operatorTarget(ctx, provider, now)
	if err != nil {
		return 0, err
	}
	np := store.Provider{Name: provider, State: store.ProviderConfirmed, Since: now, Until: now.Add(t.opts.SuspectFor),
		Reason: "bounces confirmed by " + by, ChangedBy: by, CountFrom: p.CountFrom}
	if err := t.st.SetProvider(ctx, np); err != nil {
		return 0, fmt.Errorf("providers: confirm %s: %w", provider, err)
	}
	t.audit(ctx, by, "provider.confirm", provider, fmt.Sprintf("%d quarantined recipients", len(qs)))
	return len(qs), t.retry(ctx, qs, now)
}

// Clear is the operator's "the provider is fine": it is marked healthy,
// the window restarts now (earlier replies no longer count), its
// quarantined recipients are released, and their messages are made due
// now. It returns how many recipients were released.
func (t *Tracker) Clear(ctx context.Context, provider, by string) (int, error) {
	now := t.now().UTC().Round(0)
	provider, qs, _, err := t.operatorTarget(ctx, provider, now)
	if err != nil {
		return 0, err
	}
	np := store.Provider{Name: provider, State: store.ProviderHealthy, Since: now, Reason: "cleared by " + by, ChangedBy: by, CountFrom: now}
	if err := t.st.SetProvider(ctx, np); err != nil {
		return 0, fmt.Errorf("providers: clear %s: %w", provider, err)
	}
	for _, q := range qs {
		if err := t.st.ResolveQuarantine(ctx, q.ID, "cleared", now); err != nil && !errors.Is(err, store.ErrNotFound) {
			return 0, fmt.Errorf("providers: clear %s: %w", provider, err)
		}
	}
	t.audit(ctx, by, "provider.clear", provider, fmt.Sprintf("%d quarantined recipients released", len(qs)))
	return len(qs), t.retry(ctx, qs, now)
}

func (t *Tracker) operatorTarget(ctx context.Context, provider string, now time.Time) (string, []store.Quarantine, store.Provider, error) {
	provider = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(provider)), ".")
	if provider == "" {
		return "", nil, store.Provider{}, fmt.Errorf("providers: %w: empty name", ErrUnknownProvider)
	}
	p, err := t.state(ctx, provider, now)
	if err != nil {
		return "", nil, store.Provider{}, err
	}
	qs, err := t.st.ListQuarantine(ctx, provider, true)
	if err != nil {
		return "", nil, store.Provider{}, fmt.Errorf("providers: %s: %w", provider, err)
	}
	if _, err := t.st.ProviderByName(ctx, provider); errors.Is(err, store.ErrNotFound) && len(qs) == 0 {
		return "", nil, store.Provider{}, fmt.Errorf("providers: %s: %w (see cabalmail providers)", provider, ErrUnknownProvider)
	}
	return provider, qs, p, nil
}

// retry makes the queued messages of the quarantined recipients due now.
func (t *Tracker) retry(ctx context.Context, qs []store.Quarantine, now time.Time) error {
	done := map[string]bool{}
	for _, q := range qs {
		if q.QueueID == "" || done[q.QueueID] {
			continue
		}
		done[q.QueueID] = true
		if err := t.st.RetryQueueItem(ctx, q.QueueID, now); err != nil && !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("providers: retry %s: %w", q.QueueID, err)
		}
	}
	return nil
}

func (t *Tracker) audit(ctx context.Context, by, action, target, detail string) {
	if err := t.st.AddAudit(ctx, &store.AuditEntry{Actor: by, Action: action, Target: target, Detail: detail}); err != nil {
		t.log.Error("providers: audit", "action", action, "err", err)
	}
}

// Suppressed returns the sending user's suppression entry in force for
// rcpt, if any (ok false when none).
func Suppressed(ctx context.Context, st store.Suppressions, userID int64, rcpt string) (store.Suppression, bool, error) {
	e, err := st.ActiveSuppression(ctx, userID, strings.ToLower(rcpt))
	if errors.Is(err, store.ErrNotFound) {
		return store.Suppression{}, false, nil
	}
	if err != nil {
		return store.Suppression{}, false, fmt.Errorf("providers: suppression of %s: %w", rcpt, err)
	}
	return e, true, nil
}

// RefusalText is the text of the 550 5.1.1 reply that refuses a suppressed
// recipient at submission: since when and why.
func RefusalText(e store.Suppression) string {
	why := e.Reason
	if e.Text != "" {
		why += ": " + e.Text
	}
	why = strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return ' '
		}
		return r
	}, why)
	if len(why) > 300 {
		why = why[:300] + "..."
	}
	return fmt.Sprintf("<%s> is suppressed since %s after a hard bounce (%s); ask the operator to release it",
		e.Address, e.CreatedAt.UTC().Format(time.RFC3339), why)
}
