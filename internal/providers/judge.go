package providers

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cabalmail/cabalmail/internal/dsn"
	"github.com/cabalmail/cabalmail/internal/queue"
	"github.com/cabalmail/cabalmail/internal/store"
)

// Action is what the delivery policy does with one recipient's outcome.
type Action int

const (
	// AsUsual: keep the outcome as the remote server gave it (a 5xx fails
	// with a DSN, a 4xx is retried).
	AsUsual Action = iota
	// Quarantine: treat a hard bounce as temporary: the message stays
	// queued and is retried with backoff, no DSN, no suppression; the
	// recipient is quarantined.
	Quarantine
	// Suppress: a definite hard bounce: fail as usual, and the recipient
	// is on the sending user's suppression list.
	Suppress
)

func (a Action) String() string {
	switch a {
	case Quarantine:
		return "quarantine"
	case Suppress:
		return "suppress"
	}
	return "as-usual"
}

// Decision is the verdict on one outcome.
type Decision struct {
	Action   Action
	Provider string       // "" when the outcome involved no remote server
	Category dsn.Category // of the reply; "" for a delivery
	Reason   string       // why, for logs and the quarantine entry
}

// Judge records one recipient's outcome of an attempt of w and decides what
// it means. Only outcomes a remote server answered count (o.Relay set);
// local deliveries and our own failures come back AsUsual. If the store
// fails while a hard bounce is judged, the bounce is treated as temporary:
// never a failure on our own fault.
func (t *Tracker) Judge(ctx context.Context, w queue.Work, o queue.Outcome) Decision {
	now := t.now().UTC().Round(0)
	t.prune(ctx, now)
	prov := ProviderOf(o.Relay, o.Rcpt)
	if o.Relay == "" || prov == "" {
		return Decision{}
	}
	switch o.Kind {
	case queue.Delivered:
		if err := t.st.RecordProviderBatch(ctx, []store.ProviderAttempt{{Provider: prov, Time: now, Result: store.AttemptSent}},
			[]store.Accepted{{Key: RecipientKey(o.Rcpt), At: now}}); err != nil {
			t.log.Error("providers: record delivery", "provider", prov, "err", err)
		}
		t.afterDelivery(ctx, prov, o.Rcpt, now)
		return Decision{Provider: prov}
	case queue.Deferred:
		cls := dsn.ClassifyStatus(o.DSN, o.Reply)
		if err := t.st.RecordProviderAttempt(ctx, store.ProviderAttempt{Provider: prov, Time: now, Result: store.AttemptDeferred}); err != nil {
			t.log.Error("providers: record deferral", "provider", prov, "err", err)
		}
		return Decision{Provider: prov, Category: cls.Category}
	}
	cls := dsn.ClassifyStatus(o.DSN, o.Reply)
	if !o.Remote || !cls.HardBounce() {
		if err := t.st.RecordProviderAttempt(ctx, store.ProviderAttempt{Provider: prov, Time: now, Result: store.AttemptBounced}); err != nil {
			t.log.Error("providers: record bounce", "provider", prov, "err", err)
		}
		return Decision{Provider: prov, Category: cls.Category}
	}
	d, err := t.judgeHardBounce(ctx, w, o, prov, cls.Category, now)
	if err != nil {
		t.log.Error("providers: judge hard bounce; treating it as temporary", "provider", prov, "rcpt", o.Rcpt, "err", err)
		return Decision{Action: Quarantine, Provider: prov, Category: cls.Category, Reason: "delivery state unavailable"}
	}
	return d
}

// judgeHardBounce decides on an unknown or disabled recipient.
func (t *Tracker) judgeHardBounce(ctx context.Context, w queue.Work, o queue.Outcome, prov string, cat dsn.Category, now time.Time) (Decision, error) {
	d := Decision{Provider: prov, Category: cat}
	p, err := t.state(ctx, prov, now)
	if err != nil {
		return d, err
	}
	known, err := t.st.AcceptedBefore(ctx, RecipientKey(o.Rcpt), now)
	if err != nil {
		return d, fmt.Errorf("providers: history of %s: %w", o.Rcpt, err)
	}
	if err := t.st.RecordProviderAttempt(ctx, store.ProviderAttempt{Provider: prov, Time: now, Result: store.AttemptBounced, KnownUnknown: known}); err != nil {
		return d, fmt.Errorf("providers: record bounce: %w", err)
	}
	switch p.State {
	case store.ProviderConfirmed:
		return t.suppress(ctx, w, o, d, "the operator confirmed the bounces of "+prov, now)
	case store.ProviderSuspect:
		return t.quarantine(ctx, w, o, d, fmt.Sprintf("provider %s suspect since %s", prov, p.Since.Format(time.RFC3339)), now)
	}
	if !known {
		return t.suppress(ctx, w, o, d, "", now)
	}
	c, err := t.st.ProviderCounts(ctx, prov, t.windowStart(p, now))
	if err != nil {
		return d, fmt.Errorf("providers: counts of %s: %w", prov, err)
	}
	if t.threshold(c) {
		p = store.Provider{Name: prov, State: store.ProviderSuspect, Since: now, Until: now.Add(t.opts.SuspectFor), ChangedBy: "detector",
			CountFrom: p.CountFrom,
			Reason: fmt.Sprintf("%d unknown-recipient replies for recipients that accepted mail before, of %d attempts in %s",
				c.KnownUnknown, c.Attempts(), t.opts.Window)}
		if err := t.st.SetProvider(ctx, p); err != nil {
			return d, fmt.Errorf("providers: mark %s suspect: %w", prov, err)
		}
		t.log.Error("providers: provider suspect; its unknown-recipient replies are treated as temporary",
			"provider", prov, "until", p.Until, "reason", p.Reason)
		return t.quarantine(ctx, w, o, d, fmt.Sprintf("provider %s suspect since %s", prov, now.Format(time.RFC3339)), now)
	}
	// A recipient that took our mail before is not given up on one reply
	// at a healthy provider: it is retried once, and a second such reply
	// confirms the bounce.
	q, err := t.st.OpenQuarantine(ctx, o.Rcpt)
	switch {
	case err == nil:
		return t.suppress(ctx, w, o, d, fmt.Sprintf("second reply since %s", q.CreatedAt.Format(time.RFC3339)), now)
	case !errors.Is(err, store.ErrNotFound):
		return d, fmt.Errorf("providers: quarantine of %s: %w", o.Rcpt, err)
	}
	return t.quarantine(ctx, w, o, d, "the recipient accepted mail before; verifying with a retry", now)
}

func (t *Tracker) quarantine(ctx context.Context, w queue.Work, o queue.Outcome, d Decision, reason string, now time.Time) (Decision, error) {
	d.Action, d.Reason = Quarantine, reason
	q := store.Quarantine{Provider: d.Provider, Rcpt: o.Rcpt, UserID: w.UserID, QueueID: w.ID, Code: o.DSN, Text: o.Reply,
		Reason: reason, CreatedAt: now}
	if err := t.st.AddQuarantine(ctx, &q); err != nil && !errors.Is(err, store.ErrExists) {
		return d, fmt.Errorf("providers: quarantine %s: %w", o.Rcpt, err)
	}
	t.log.Warn("providers: recipient quarantined", "provider", d.Provider, "rcpt", o.Rcpt, "id", w.ID, "reason", reason)
	return d, nil
}

func (t *Tracker) suppress(ctx context.Context, w queue.Work, o queue.Outcome, d Decision, why string, now time.Time) (Decision, error) {
	d.Action, d.Reason = Suppress, "definite hard bounce"
	if why != "" {
		d.Reason += ": " + why
	}
	e := store.Suppression{UserID: w.UserID, Address: o.Rcpt, Reason: string(d.Category), Code: o.DSN, Text: o.Reply,
		Provider: d.Provider, QueueID: w.ID, CreatedAt: now}
	if err := t.st.AddSuppression(ctx, &e); err != nil && !errors.Is(err, store.ErrExists) {
		return d, fmt.Errorf("providers: suppress %s: %w", o.Rcpt, err)
	}
	if q, err := t.st.OpenQuarantine(ctx, o.Rcpt); err == nil {
		if err := t.st.ResolveQuarantine(ctx, q.ID, "suppressed", now); err != nil && !errors.Is(err, store.ErrNotFound) {
			return d, fmt.Errorf("providers: resolve quarantine of %s: %w", o.Rcpt, err)
		}
	} else if !errors.Is(err, store.ErrNotFound) {
		return d, fmt.Errorf("providers: quarantine of %s: %w", o.Rcpt, err)
	}
	return d, nil
}

// afterDelivery clears the recipient's quarantine and ends the provider's
// suspect state once its rate falls back under the threshold.
func (t *Tracker) afterDelivery(ctx context.Context, prov, rcpt string, now time.Time) {
	if q, err := t.st.OpenQuarantine(ctx, rcpt); err == nil {
		if err := t.st.ResolveQuarantine(ctx, q.ID, "delivered", now); err != nil && !errors.Is(err, store.ErrNotFound) {
			t.log.Error("providers: clear quarantine", "rcpt", rcpt, "err", err)
		}
	} else if !errors.Is(err, store.ErrNotFound) {
		t.log.Error("providers: quarantine", "rcpt", rcpt, "err", err)
	}
	t.maybeRecover(ctx, prov, now)
}

func (t *Tracker) maybeRecover(ctx context.Context, prov string, now time.Time) {
	p, err := t.state(ctx, prov, now)
	if err != nil {
		t.log.Error("providers: state", "provider", prov, "err", err)
		return
	}
	if p.State != store.ProviderSuspect {
		return
	}
	c, err := t.st.ProviderCounts(ctx, prov, t.windowStart(p, now))
	if err != nil {
		t.log.Error("providers: counts", "provider", prov, "err", err)
		return
	}
	if t.threshold(c) {
		return
	}
	p = store.Provider{Name: prov, State: store.ProviderHealthy, Since: now, ChangedBy: "detector", CountFrom: p.CountFrom,
		Reason: fmt.Sprintf("recovered: %d unknown-recipient replies of %d attempts in %s", c.KnownUnknown, c.Attempts(), t.opts.Window)}
	if err := t.st.SetProvider(ctx, p); err != nil {
		t.log.Error("providers: mark recovered", "provider", prov, "err", err)
		return
	}
	t.log.Info("providers: provider recovered", "provider", prov, "reason", p.Reason)
}

// Apply judges every outcome of a batch of attempts and rewrites the
// quarantined ones as deferrals (status 4.x.x, the remote reply kept after
// the reason), so the queue retries them and sends no failure DSN. It
// records the common outcomes (deliveries, deferrals) of the whole batch in
// one store transaction. The results are changed in place and returned.
func (t *Tracker) Apply(ctx context.Context, results []queue.Result) []queue.Result {
	now := t.now().UTC().Round(0)
	t.prune(ctx, now)
	var attempts []store.ProviderAttempt
	var accepted []store.Accepted
	type delivered struct{ prov, rcpt string }
	var deliveries []delivered
	type bounce struct{ r, o int }
	var bounces []bounce
	for ri := range results {
		for oi := range results[ri].Outcomes {
			o := &results[ri].Outcomes[oi]
			prov := ProviderOf(o.Relay, o.Rcpt)
			if o.Relay == "" || prov == "" {
				continue
			}
			switch o.Kind {
			case queue.Delivered:
				attempts = append(attempts, store.ProviderAttempt{Provider: prov, Time: now, Result: store.AttemptSent})
				accepted = append(accepted, store.Accepted{Key: RecipientKey(o.Rcpt), At: now})
				deliveries = append(deliveries, delivered{prov, o.Rcpt})
			case queue.Deferred:
				attempts = append(attempts, store.ProviderAttempt{Provider: prov, Time: now, Result: store.AttemptDeferred})
			default:
				bounces = append(bounces, bounce{ri, oi})
			}
		}
	}
	if err := t.st.RecordProviderBatch(ctx, attempts, accepted); err != nil {
		t.log.Error("providers: record attempts", "attempts", len(attempts), "err", err)
	}
	// One read for the whole batch: open quarantine entries are few except
	// during an outage.
	var open map[string]int64
	if len(deliveries) > 0 {
		qs, err := t.st.ListQuarantine(ctx, "", true)
		if err != nil {
			t.log.Error("providers: quarantine", "err", err)
		}
		open = make(map[string]int64, len(qs))
		for _, q := range qs {
			open[q.Rcpt] = q.ID
		}
	}
	seen := map[string]bool{}
	for _, d := range deliveries {
		if id, ok := open[d.rcpt]; ok {
			if err := t.st.ResolveQuarantine(ctx, id, "delivered", now); err != nil && !errors.Is(err, store.ErrNotFound) {
				t.log.Error("providers: clear quarantine", "rcpt", d.rcpt, "err", err)
			}
		}
		if !seen[d.prov] {
			seen[d.prov] = true
			t.maybeRecover(ctx, d.prov, now)
		}
	}
	for _, b := range bounces {
		res := &results[b.r]
		o := &res.Outcomes[b.o]
		if d := t.Judge(ctx, res.Work, *o); d.Action == Quarantine {
			Defer(o, d)
		}
	}
	return results
}

// Defer rewrites a quarantined outcome as a deferral: the queue keeps the
// recipient pending and sends no failure DSN.
func Defer(o *queue.Outcome, d Decision) {
	o.Kind = queue.Deferred
	if len(o.DSN) > 1 && o.DSN[0] == '5' {
		o.DSN = "4" + o.DSN[1:]
	}
	o.Reply = "quarantined (" + d.Reason + "): " + o.Reply
}
