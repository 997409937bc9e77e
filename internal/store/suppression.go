package store

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Suppression is one entry of a user's suppression list: a recipient that
// bounced hard (unknown or disabled), so further mail from that user to it
// is refused at submission. Entries are never deleted: a released entry
// keeps its history and says who released it and when.
type Suppression struct {
	ID         int64
	UserID     int64  // the sending user whose list it is on; 0 for system mail
	Address    string // the recipient, canonical lower-case form
	Reason     string // the bounce category, e.g. recipient-unknown (internal/dsn)
	Code       string // enhanced status code of the bounce, e.g. 5.1.1
	Text       string // the remote reply
	Provider   string // the provider that answered (internal/providers)
	QueueID    string // the message that bounced
	CreatedAt  time.Time
	ReleasedAt time.Time // zero while in force
	ReleasedBy string    // who released it: a user name, or "operator"
}

// Active reports whether the entry is in force.
func (s Suppression) Active() bool { return s.ReleasedAt.IsZero() }

// SuppressionFilter selects entries for ListSuppressions. Zero values
// match all.
type SuppressionFilter struct {
	UserID     int64
	Address    string
	ActiveOnly bool // only entries not released
	Limit      int
}

// Suppressions keeps the per-user suppression lists.
type Suppressions interface {
	// AddSuppression stores s in force, setting s.ID and s.CreatedAt if
	// unset. ErrExists if the user already has an entry in force for the
	// address (the existing entry is left unchanged).
	AddSuppression(ctx context.Context, s *Suppression) error
	// ActiveSuppression returns the user's entry in force for address;
	// ErrNotFound if there is none.
	ActiveSuppression(ctx context.Context, userID int64, address string) (Suppression, error)
	// ListSuppressions returns entries, newest first.
	ListSuppressions(ctx context.Context, f SuppressionFilter) ([]Suppression, error)
	// ReleaseSuppressions releases the entries in force for address: the
	// given user's, or every user's when userID is 0. It returns how many
	// it released; ErrNotFound if none was in force.
	ReleaseSuppressions(ctx context.Context, userID int64, address, by string, at time.Time) (int, error)
}

// CheckSuppression checks that s can be stored.
func CheckSuppression(s *Suppression) error {
	if s.Address == "" || strings.ContainsAny(s.Address, " \t\r\n") || !strings.Contains(s.Address, "@") {
		return fmt.Errorf("%w suppression: bad address %q", ErrInvalid, s.Address)
	}
	if s.UserID < 0 {
		return fmt.Errorf("%w suppression %s: negative user id", ErrInvalid, s.Address)
	}
	if !s.ReleasedAt.IsZero() {
		return fmt.Errorf("%w suppression %s: a new entry cannot be released already", ErrInvalid, s.Address)
	}
	return nil
}
