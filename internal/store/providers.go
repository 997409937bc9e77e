package store

import (
	"context"
	"fmt"
	"time"
)

// ProviderState is the state of a mail provider in outage detection
// (internal/providers).
type ProviderState string

const (
	// ProviderHealthy: replies are taken at their word.
	ProviderHealthy ProviderState = "healthy"
	// ProviderSuspect: the provider answers "unknown recipient" for
	// recipients that took our mail before, too often to be true; such
	// replies are treated as temporary until the state ends.
	ProviderSuspect ProviderState = "suspect"
	// ProviderConfirmed: the operator said the bounces are real; they are
	// applied as such and detection is off until Until.
	ProviderConfirmed ProviderState = "confirmed"
)

// Provider is the stored state of one provider (the registered domain of
// its MX hosts). A provider without a row is healthy.
type Provider struct {
	Name      string
	State     ProviderState
	Since     time.Time // when the state began
	Until     time.Time // when a suspect or confirmed state lapses; zero for healthy
	Reason    string    // why: the counts that made it suspect, or the operator's action
	ChangedBy string    // "detector" or the operator
	// CountFrom is the start of the window that counts for detection:
	// attempts before it are ignored (set when the operator clears).
	CountFrom time.Time
}

// ProviderAttempt is one attempt to deliver to a recipient at a provider.
type ProviderAttempt struct {
	Provider string
	Time     time.Time
	Result   string // sent, deferred or bounced
	// KnownUnknown marks a hard "unknown recipient" (or disabled) reply
	// for a recipient that accepted our mail before.
	KnownUnknown bool
}

// Attempt results.
const (
	AttemptSent     = "sent"
	AttemptDeferred = "deferred"
	AttemptBounced  = "bounced"
)

// ProviderCounts are the attempts of a provider in a window.
type ProviderCounts struct {
	Provider     string
	Sent         int
	Deferred     int
	Bounced      int
	KnownUnknown int
}

// Attempts is the number of attempts counted.
func (c ProviderCounts) Attempts() int { return c.Sent + c.Deferred + c.Bounced }

// Accepted is one acceptance of a message by a recipient, known by a hash
// of its address.
type Accepted struct {
	Key string
	At  time.Time
}

// Quarantine is a recipient whose hard bounce was not believed: it is kept
// pending (the message stays queued) until the provider recovers, the
// operator decides, or a second reply confirms it.
type Quarantine struct {
	ID         int64
	Provider   string
	Rcpt       string
	UserID     int64
	QueueID    string
	Code       string
	Text       string
	Reason     string // why it was quarantined
	CreatedAt  time.Time
	ResolvedAt time.Time // zero while open
	Resolution string    // delivered, suppressed, cleared, confirmed
}

// Providers keeps what outage detection needs, shared by every process.
type Providers interface {
	// RecordProviderAttempt stores one attempt (Time defaults to now).
	RecordProviderAttempt(ctx context.Context, a ProviderAttempt) error
	// RecordProviderBatch stores many attempts and acceptances in one
	// transaction (the common case of a delivery batch); all or none.
	RecordProviderBatch(ctx context.Context, attempts []ProviderAttempt, accepted []Accepted) error
	// ProviderCounts counts provider's attempts at or after since.
	ProviderCounts(ctx context.Context, provider string, since time.Time) (ProviderCounts, error)
	// ListProviderCounts counts every provider's attempts at or after
	// since, most attempts first.
	ListProviderCounts(ctx context.Context, since time.Time) ([]ProviderCounts, error)
	// PruneProviderAttempts removes attempts before the given time.
	PruneProviderAttempts(ctx context.Context, before time.Time) (int, error)

	// ProviderByName returns a provider's stored state; ErrNotFound if it
	// has none (it is healthy).
	ProviderByName(ctx context.Context, name string) (Provider, error)
	// SetProvider stores p's state, replacing any previous one.
	SetProvider(ctx context.Context, p Provider) error
	// ListProviders returns every stored provider state, by name.
	ListProviders(ctx context.Context) ([]Provider, error)

	// RecordAccepted notes that the recipient with this key (a hash of
	// the address) accepted a message at the given time.
	RecordAccepted(ctx context.Context, rcptKey string, at time.Time) error
	// AcceptedBefore reports whether the recipient accepted a message at
	// or before the given time.
	AcceptedBefore(ctx context.Context, rcptKey string, at time.Time) (bool, error)

	// AddQuarantine opens q, setting q.ID and q.CreatedAt if unset.
	// ErrExists if the recipient already has an open entry.
	AddQuarantine(ctx context.Context, q *Quarantine) error
	// OpenQuarantine returns the recipient's open entry; ErrNotFound if
	// none.
	OpenQuarantine(ctx context.Context, rcpt string) (Quarantine, error)
	// ListQuarantine returns entries of provider ("" for all), newest
	// first; only open ones if openOnly.
	ListQuarantine(ctx context.Context, provider string, openOnly bool) ([]Quarantine, error)
	// ResolveQuarantine closes an open entry. ErrNotFound if there is no
	// open entry with that ID.
	ResolveQuarantine(ctx context.Context, id int64, resolution string, at time.Time) error
}

// CheckProvider checks that p can be stored.
func CheckProvider(p Provider) error {
	if p.Name == "" {
		return fmt.Errorf("%w provider: empty name", ErrInvalid)
	}
	switch p.State {
	case ProviderHealthy, ProviderSuspect, ProviderConfirmed:
	default:
		return fmt.Errorf("%w provider %s: state %q", ErrInvalid, p.Name, p.State)
	}
	return nil
}

// CheckProviderAttempt checks that a can be stored.
func CheckProviderAttempt(a ProviderAttempt) error {
	if a.Provider == "" {
		return fmt.Errorf("%w provider attempt: empty provider", ErrInvalid)
	}
	switch a.Result {
	case AttemptSent, AttemptDeferred, AttemptBounced:
	default:
		return fmt.Errorf("%w provider attempt %s: result %q", ErrInvalid, a.Provider, a.Result)
	}
	if a.KnownUnknown && a.Result != AttemptBounced && a.Result != AttemptDeferred {
		return fmt.Errorf("%w provider attempt %s: an unknown-recipient reply cannot be %s", ErrInvalid, a.Provider, a.Result)
	}
	return nil
}
