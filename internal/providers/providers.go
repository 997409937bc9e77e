// Package providers is the delivery intelligence of the smtp-out tier: it
// groups destinations by provider, keeps per-user suppression lists of
// recipients that bounced hard, and tells a provider's outage from real
// bounces.
//
// A provider is the registered domain of the MX host that answered
// (publicsuffix: mx1.mail.example.co.uk belongs to example.co.uk), so every
// domain one provider hosts counts together. For each provider the store
// keeps, in a rolling window, the attempts and their results, and in
// particular the hard "unknown recipient" (or disabled) replies for
// recipients that accepted our mail before. When those cross the
// threshold (by default at least 3, and at least half of the provider's
// attempts, in 30 minutes) the provider turns suspect for a period (24 h):
// its hard bounces are then treated as temporary, the recipient is
// quarantined instead of suppressed, no failure DSN is sent, and the
// message is retried with the queue's backoff. A successful delivery ends
// the suspect state once the rate falls back under the threshold, and a
// quarantined recipient that accepts mail again is cleared. The operator
// may confirm (the bounces are real) or clear (retry everything now).
//
// The state lives in the store, so several processes share it and a
// restart loses nothing. The package decides; it does not talk SMTP, send
// DSNs or schedule retries: internal/delivery calls Apply (or Judge) on
// each attempt's outcomes before handing them to internal/queue, and
// internal/submission asks Suppressed at RCPT time.
package providers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/publicsuffix"

	"github.com/cabalmail/cabalmail/internal/store"
)

// Options configure a Tracker. Store is required; the zero value of every
// other field is the default shown.
type Options struct {
	Store  store.Store
	Logger *slog.Logger     // nil: slog.Default()
	Now    func() time.Time // nil: time.Now
	// MinReplies is the least number of "unknown recipient" replies for
	// recipients that accepted mail before, in Window, that can make a
	// provider suspect: 3.
	MinReplies int
	// MinShare is the least share of the provider's attempts in Window
	// those replies must be: 0.5.
	MinShare float64
	// Window is the rolling window of the counts: 30 minutes.
	Window time.Duration
	// SuspectFor is how long a provider stays suspect (or confirmed)
	// unless it recovers or the operator acts first: 24 hours.
	SuspectFor time.Duration
}

// Defaults of Options.
const (
	DefaultMinReplies = 3
	DefaultMinShare   = 0.5
	DefaultWindow     = 30 * time.Minute
	DefaultSuspectFor = 24 * time.Hour
)

// Tracker judges delivery outcomes and keeps the provider state. It is safe
// for concurrent use; several Trackers (in several processes) may share one
// store.
type Tracker struct {
	st   store.Store
	log  *slog.Logger
	now  func() time.Time
	opts Options

	pruneMu sync.Mutex
	pruned  time.Time
}

// New checks opts and returns a Tracker.
func New(opts Options) (*Tracker, error) {
	if opts.Store == nil {
		return nil, errors.New("providers: new: no store")
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.MinReplies == 0 {
		opts.MinReplies = DefaultMinReplies
	}
	if opts.MinShare == 0 {
		opts.MinShare = DefaultMinShare
	}
	if opts.Window == 0 {
		opts.Window = DefaultWindow
	}
	if opts.SuspectFor == 0 {
		opts.SuspectFor = DefaultSuspectFor
	}
	switch {
	case opts.MinReplies < 1:
		return nil, fmt.Errorf("providers: new: minimum replies %d is below 1", opts.MinReplies)
	case opts.MinShare < 0 || opts.MinShare > 1:
		return nil, fmt.Errorf("providers: new: minimum share %g is not between 0 and 1", opts.MinShare)
	case opts.Window < time.Minute:
		return nil, fmt.Errorf("providers: new: window %s is shorter than a minute", opts.Window)
	case opts.SuspectFor < opts.Window:
		return nil, fmt.Errorf("providers: new: suspect period %s is shorter than the window %s", opts.SuspectFor, opts.Window)
	}
	return &Tracker{st: opts.Store, log: opts.Logger, now: opts.Now, opts: opts}, nil
}

// Options returns the options in force, defaults filled in.
func (t *Tracker) Options() Options { return t.opts }

// ProviderOf names the provider of a delivery: the registered domain
// (public suffix plus one label) of the host that answered, or of the
// recipient's domain when no host did. An IP address names itself.
func ProviderOf(host, rcpt string) string {
	h := hostName(host)
	if h == "" {
		if at := strings.LastIndexByte(rcpt, '@'); at >= 0 {
			h = hostName(rcpt[at+1:])
		}
	}
	if h == "" {
		return ""
	}
	if strings.HasPrefix(h, "[") && strings.HasSuffix(h, "]") {
		h = h[1 : len(h)-1]
	}
	if net.ParseIP(h) != nil {
		return h
	}
	reg, err := publicsuffix.EffectiveTLDPlusOne(h)
	if err != nil {
		// A bare public suffix or a single label: the name itself.
		return h
	}
	return reg
}

// hostName returns h in lower case without a final dot, or "" if it is not
// a host name or address literal (A-labels, RFC 5890: letters, digits,
// hyphens, dots; and the characters of an IP literal).
func hostName(h string) string {
	h = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(h)), ".")
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == ':' || c == '[' || c == ']') {
			return ""
		}
	}
	return h
}

// RecipientKey is the key under which a recipient's acceptances are kept:
// a hash of the lower-case address, so the store does not keep a list of
// every correspondent in clear.
func RecipientKey(rcpt string) string {
	sum := sha256.Sum256([]byte(strings.ToLower(rcpt)))
	return hex.EncodeToString(sum[:])
}

// threshold tells whether counts cross the suspect threshold.
func (t *Tracker) threshold(c store.ProviderCounts) bool {
	n := c.Attempts()
	return c.KnownUnknown >= t.opts.MinReplies && n > 0 && float64(c.KnownUnknown) >= t.opts.MinShare*float64(n)
}

// windowStart is where the rolling window of p begins at now.
func (t *Tracker) windowStart(p store.Provider, now time.Time) time.Time {
	from := now.Add(-t.opts.Window)
	if p.CountFrom.After(from) {
		from = p.CountFrom
	}
	return from
}

// state returns p's stored state, healthy if none, with a lapsed suspect
// or confirmed state turned back to healthy (and stored so).
func (t *Tracker) state(ctx context.Context, name string, now time.Time) (store.Provider, error) {
	p, err := t.st.ProviderByName(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return store.Provider{Name: name, State: store.ProviderHealthy}, nil
	}
	if err != nil {
		return store.Provider{}, fmt.Errorf("providers: state of %s: %w", name, err)
	}
	if p.State != store.ProviderHealthy && !p.Until.IsZero() && !now.Before(p.Until) {
		t.log.Info("providers: state lapsed", "provider", name, "state", p.State, "since", p.Since)
		p = store.Provider{Name: name, State: store.ProviderHealthy, Since: p.Until, Reason: "lapsed after " + string(p.State),
			ChangedBy: "detector", CountFrom: p.CountFrom}
		if err := t.st.SetProvider(ctx, p); err != nil {
			return store.Provider{}, fmt.Errorf("providers: state of %s: %w", name, err)
		}
	}
	return p, nil
}

// prune drops attempts that no window needs any more, at most every few
// minutes per process.
func (t *Tracker) prune(ctx context.Context, now time.Time) {
	t.pruneMu.Lock()
	due := now.Sub(t.pruned) >= 5*time.Minute
	if due {
		t.pruned = now
	}
	t.pruneMu.Unlock()
	if !due {
		return
	}
	// Keep a day (the operator's view) or two windows, whichever is longer.
	keep := max(24*time.Hour, 2*t.opts.Window)
	if _, err := t.st.PruneProviderAttempts(ctx, now.Add(-keep)); err != nil {
		t.log.Warn("providers: prune attempts", "err", err)
	}
}
