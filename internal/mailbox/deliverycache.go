package mailbox

import (
	"context"
	"time"
)

// quotaCacheTTL bounds how stale the quota limit used by deliveries and
// early quota checks may be: a limit changed with store.UpdateUser (by
// any process) applies to deliveries within this time. The usage, which
// changes with every message, is never cached: the commit reads it in its
// own transaction.
const quotaCacheTTL = 5 * time.Second

// deliveryCache is what a delivery needs to know of a user besides the
// commit: the ID of their INBOX, which never changes while the user exists
// (INBOX cannot be deleted, renaming it moves its messages out and keeps
// the mailbox), and their quota limit, read again after quotaCacheTTL. A
// user deleted meanwhile makes the commit fail for that user, since it
// checks that the mailbox exists and is the user's.
type deliveryCache struct {
	inbox   int64 // 0: unknown
	limit   int64
	limitAt time.Time // zero: limit unknown
}

// cachedInbox returns the user's INBOX ID if known, else 0.
func (s *Store) cachedInbox(userID int64) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.userLocked(userID).cache.inbox
}

func (s *Store) cacheInbox(userID, id int64) {
	s.mu.Lock()
	s.userLocked(userID).cache.inbox = id
	s.mu.Unlock()
}

// forgetUser drops what the delivery cache holds for a user.
func (s *Store) forgetUser(userID int64) {
	s.mu.Lock()
	if u := s.users[userID]; u != nil {
		u.cache = deliveryCache{}
	}
	s.mu.Unlock()
}

// cachedQuotaLimit is quotaLimit read at most every quotaCacheTTL.
func (s *Store) cachedQuotaLimit(ctx context.Context, userID int64) (int64, error) {
	now := time.Now()
	s.mu.Lock()
	c := s.userLocked(userID).cache
	s.mu.Unlock()
	if !c.limitAt.IsZero() && now.Sub(c.limitAt) < quotaCacheTTL {
		return c.limit, nil
	}
	limit, err := s.quotaLimit(ctx, userID)
	if err != nil {
		s.forgetUser(userID)
		return 0, err
	}
	s.mu.Lock()
	u := s.userLocked(userID)
	u.cache.limit, u.cache.limitAt = limit, now
	s.mu.Unlock()
	return limit, nil
}
