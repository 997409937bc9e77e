package store

import (
	"context"
	"fmt"
	"time"
)

// RecipientState is the delivery state of one recipient of a queued message.
type RecipientState string

const (
	RecipientPending RecipientState = "pending" // not yet delivered; retried
	RecipientSent    RecipientState = "sent"    // accepted by the next hop or delivered locally
	RecipientFailed  RecipientState = "failed"  // permanently failed (5xx, or given up)
)

// QueueItem is one message in the outbound queue with its recipients.
type QueueItem struct {
	ID          string
	Sender      string // envelope MAIL FROM; "" for the null reverse-path
	BlobKey     string // the spooled message (internal/blob)
	Size        int64
	UserID      int64 // submitting user; 0 for system mail such as DSNs
	IsDSN       bool  // the message is itself a delivery status notification
	Attempts    int
	NextAttempt time.Time
	LastError   string
	Held        bool
	LeaseOwner  string
	LeaseUntil  time.Time
	CreatedAt   time.Time
	// DelayNotified is set once a delay notice has been sent for the
	// message, so only one is sent.
	DelayNotified bool
	// SignDomain is the domain whose DKIM key signs the message when it is
	// delivered to a remote host (the From domain of submitted mail); ""
	// means the message is sent unsigned (system mail such as DSNs).
	SignDomain string
	Recipients []QueueRecipient
}

// QueueRecipient is one recipient of a queued message.
type QueueRecipient struct {
	Rcpt        string
	State       RecipientState
	Attempts    int
	LastDSN     string // enhanced status code of the last attempt
	LastError   string
	LastAttempt time.Time
}

// QueueResult is the outcome of one delivery attempt of a claimed message,
// written back by FinishQueueAttempts.
type QueueResult struct {
	ID string
	// Recipients carries the new state of the recipients that were tried;
	// recipients not named keep theirs.
	Recipients    []QueueRecipient
	NextAttempt   time.Time // when pending recipients are due again
	LastError     string
	DelayNotified bool // set the flag (it is never cleared)
	// Events are stored in the same transaction (one per recipient tried),
	// so a busy queue pays one commit for a whole batch of attempts.
	Events []Event
}

// Queue is the outbound queue (DESIGN.md §2 smtp-out). Several processes
// may work one queue: a worker claims due messages with a lease, and only
// the lease holder may write an attempt's results. An expired lease makes a
// message claimable again, so a crashed worker loses nothing.
type Queue interface {
	// EnqueueItems inserts the items, each with its recipients (state
	// pending), in one transaction. Items need ID, BlobKey and at least
	// one recipient; NextAttempt and CreatedAt default to now.
	EnqueueItems(ctx context.Context, items []*QueueItem) error
	// QueueItem returns one item with its recipients.
	QueueItem(ctx context.Context, id string) (QueueItem, error)
	// ListQueue returns every queued item with its recipients, oldest
	// first.
	ListQueue(ctx context.Context) ([]QueueItem, error)
	// ClaimQueue leases to owner up to limit items that are due (next
	// attempt at or before now), not held and not leased by someone else
	// (or whose lease expired), oldest due first. The lease lasts until
	// leaseUntil.
	ClaimQueue(ctx context.Context, owner string, now, leaseUntil time.Time, limit int) ([]QueueItem, error)
	// ExtendLease moves the lease of owner's items to until. Items no
	// longer leased to owner are skipped.
	ExtendLease(ctx context.Context, owner string, ids []string, until time.Time) error
	// FinishQueueAttempts records the results of owner's attempts in one
	// transaction and releases the leases. An item with no pending
	// recipient left is removed, and its blob key returned in done so the
	// caller can delete the blob. A result for an item not leased to owner
	// (deleted, or its lease expired and taken) is skipped and its ID
	// returned in lost.
	FinishQueueAttempts(ctx context.Context, owner string, results []QueueResult) (done []string, lost []string, err error)
	// ReleaseLease gives up owner's lease on an item without recording an
	// attempt (for example on shutdown).
	ReleaseLease(ctx context.Context, owner, id string) error
	// SetQueueHeld holds or releases an item. A held item is never
	// claimed. ErrNotFound if there is no such item.
	SetQueueHeld(ctx context.Context, id string, held bool) error
	// RetryQueueItem makes an item due at the given time. ErrNotFound if
	// there is no such item.
	RetryQueueItem(ctx context.Context, id string, at time.Time) error
	// DeleteQueueItem removes an item and returns its blob key.
	// ErrNotFound if there is no such item.
	DeleteQueueItem(ctx context.Context, id string) (blobKey string, err error)
}

// CheckQueueItem checks that it can be enqueued.
func CheckQueueItem(it *QueueItem) error {
	if it.ID == "" {
		return fmt.Errorf("%w queue item: empty id", ErrInvalid)
	}
	if it.BlobKey == "" {
		return fmt.Errorf("%w queue item %s: empty blob key", ErrInvalid, it.ID)
	}
	if len(it.Recipients) == 0 {
		return fmt.Errorf("%w queue item %s: no recipients", ErrInvalid, it.ID)
	}
	seen := make(map[string]bool, len(it.Recipients))
	for _, r := range it.Recipients {
		if r.Rcpt == "" {
			return fmt.Errorf("%w queue item %s: empty recipient", ErrInvalid, it.ID)
		}
		if seen[r.Rcpt] {
			return fmt.Errorf("%w queue item %s: recipient %s twice", ErrInvalid, it.ID, r.Rcpt)
		}
		seen[r.Rcpt] = true
	}
	return nil
}

// CheckRecipientState checks that s is one of the known recipient states.
func CheckRecipientState(s RecipientState) error {
	switch s {
	case RecipientPending, RecipientSent, RecipientFailed:
		return nil
	}
	return fmt.Errorf("%w recipient state %q", ErrInvalid, s)
}
