// Package queue is the durable outbound queue of the smtp-out tier: it keeps
// every accepted message (its body as a blob, its envelope and per-recipient
// state as store rows) until each recipient has been delivered or has failed
// for good.
//
// It is in charge of durability (Enqueue returns only once the body is
// fsynced and the rows are committed; concurrent callers share the fsyncs
// of their bodies and one commit of their rows), of removing orphaned
// bodies (SweepOrphans, run from Claim), of the retry schedule
// (RetryPolicy: exponential backoff with jitter, a delay notice, giving
// up), of leases that let several processes work one queue, and of the
// operator's actions (List, Retry, Hold, Release,
// Delete). It is not in charge of talking SMTP or of routing: that is
// internal/delivery, which claims work from the queue with Claim and hands
// results back with Finish. DSN texts are built by internal/dsn.
package queue

import (
	"context"
	"io"
	"log/slog"
	"time"

	"github.com/cabalmail/cabalmail/internal/blob"
	"github.com/cabalmail/cabalmail/internal/store"
)

// Options configure a Queue. Store and Blobs are required; the zero value
// of every other field is a sensible default.
type Options struct {
	Store  store.Store
	Blobs  blob.Store
	Logger *slog.Logger // nil: slog.Default()
	// Now is the clock; nil means time.Now. Tests pass a fake clock.
	Now   func() time.Time
	Retry RetryPolicy
	// Hostname names this system in the DSNs it writes (Reporting-MTA and
	// the postmaster From address); "" means the host's name.
	Hostname string
	// SweepOrphansEvery is how often Claim starts a background sweep of
	// bodies no row names (SweepOrphans with OrphanAge); 0 means
	// DefaultSweepEvery, negative never.
	SweepOrphansEvery time.Duration
}

// RetryPolicy is the retry schedule of deferred recipients. Zero fields take
// the defaults shown.
type RetryPolicy struct {
	First       time.Duration // first retry after a deferral: 5m; each next one doubles
	Max         time.Duration // cap of the backoff: 4h
	DelayNotice time.Duration // age of a still-deferred message at which the sender is told: 4h
	GiveUp      time.Duration // age at which deferred recipients fail for good: 96h
}

// Default retry schedule.
const (
	DefaultFirst       = 5 * time.Minute
	DefaultMax         = 4 * time.Hour
	DefaultDelayNotice = 4 * time.Hour
	DefaultGiveUp      = 96 * time.Hour
)

// Message is a message to enqueue.
type Message struct {
	From       string    // envelope sender; "" is the null sender (no DSN is ever sent for it)
	Recipients []string  // envelope recipients, at least one
	Body       io.Reader // the full message, unsigned
	UserID     int64     // submitting user; 0 for system mail such as DSNs
	// SignDomain is the domain whose DKIM key signs the message when it is
	// delivered to a remote host (internal/delivery signs at that moment,
	// so a 250 never waits for the signature); "" sends it unsigned.
	SignDomain string
	// IsDSN marks a delivery status notification built by this system; with
	// From "" it is never answered by another DSN (no bounce loops).
	IsDSN bool
}

// State is the state of a queued item as mailq shows it.
type State string

const (
	StateQueued   State = "queued"   // waiting for its next attempt
	StateDeferred State = "deferred" // tried, some recipients deferred
	StateActive   State = "active"   // leased by a delivery worker now
	StateHeld     State = "held"     // held by the operator; never tried until released
)

// Item is one queued message as List reports it.
type Item struct {
	ID          string
	Created     time.Time
	Age         time.Duration
	Size        int64
	Sender      string
	UserID      int64
	IsDSN       bool
	State       State
	Attempts    int
	LastError   string
	NextAttempt time.Time
	Recipients  []Recipient
}

// Recipient is one recipient of an Item.
type Recipient struct {
	Address     string
	State       store.RecipientState
	Attempts    int
	LastDSN     string
	LastError   string
	LastAttempt time.Time
}

// Errors returned (wrapped) by the queue.
var (
	// ErrNotFound: no queued item has that ID.
	ErrNotFound = store.ErrNotFound
	// ErrInvalid: a message that cannot be queued (no recipients, a bad
	// address); nothing was stored.
	ErrInvalid = store.ErrInvalid
)

// The operator actions. Each takes an item ID; the *All variants act on
// every queued item and return how many they changed.
//
//	Retry:   make the item due now (a held item stays held).
//	Hold:    never try the item until it is released.
//	Release: undo Hold; the item is due now.
//	Delete:  remove the item and its blob; no DSN is sent.
type operatorActions interface {
	Retry(ctx context.Context, id string) error
	Hold(ctx context.Context, id string) error
	Release(ctx context.Context, id string) error
	Delete(ctx context.Context, id string) error
	RetryAll(ctx context.Context) (int, error)
	HoldAll(ctx context.Context) (int, error)
	ReleaseAll(ctx context.Context) (int, error)
	DeleteAll(ctx context.Context) (int, error)
}

var _ operatorActions = (*Queue)(nil)

// The delivery runner's side (internal/delivery), in work.go:
//
//	func (q *Queue) Claim(ctx context.Context, owner string, lease time.Duration, limit int) ([]Work, error)
//	func (q *Queue) Body(ctx context.Context, w Work) (blob.Reader, error)
//	func (q *Queue) Finish(ctx context.Context, owner string, results []Result) ([]Result, error)
