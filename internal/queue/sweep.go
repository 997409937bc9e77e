package queue

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cabalmail/cabalmail/internal/blob"
)

// OrphanAge is how old a body no row names must be before the orphan
// sweep removes it. It is far longer than any Enqueue takes between
// writing a body and committing its row (each stage of the group commit
// is bounded by minutes), so a body being enqueued, by this process or
// another sharing the store, is never taken for an orphan.
const OrphanAge = time.Hour

// DefaultSweepEvery is how often the delivery side's Claim starts an
// orphan sweep (Options.SweepOrphansEvery).
const DefaultSweepEvery = time.Hour

// walker is implemented by blob stores that can list their blobs
// (blob.Dir).
type walker interface {
	Walk(ctx context.Context, fn func(key string, stored time.Time) error) error
}

// SweepOrphans removes bodies older than minAge that no queue row names:
// bodies left by a crash between writing a body and committing its row,
// by an Enqueue whose rows failed and whose removal failed too, or by a
// crash before a finished message's body was removed. It returns how many
// it removed, and does nothing if the blob store cannot list its blobs.
//
// Several processes may share the store and the blob directory: a body is
// removed only if it is older than minAge and, after the directory was
// listed, neither a queue row nor a message row names it (the second
// check guards against a blob directory shared with the mailbox store by
// mistake). minAge must be longer than any Enqueue can take; OrphanAge is.
func (q *Queue) SweepOrphans(ctx context.Context, minAge time.Duration) (int, error) {
	if minAge <= 0 {
		return 0, fmt.Errorf("queue: sweep orphans: %w minimum age %v: want a positive duration", ErrInvalid, minAge)
	}
	w, ok := q.blobs.(walker)
	if !ok {
		return 0, nil
	}
	// Blob times are file times, so the cutoff is on the wall clock, not
	// the queue's (possibly fake) one.
	cutoff := time.Now().Add(-minAge)
	var old []string
	err := w.Walk(ctx, func(key string, stored time.Time) error {
		if stored.Before(cutoff) {
			old = append(old, key)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("queue: sweep orphans: %w", err)
	}
	if len(old) == 0 {
		return 0, nil
	}
	// The rows are read after the walk: a row committed before the walk
	// is seen, and one committed after it names a body younger than
	// minAge, which the walk did not pick.
	rows, err := q.st.ListQueue(ctx)
	if err != nil {
		return 0, fmt.Errorf("queue: sweep orphans: %w", err)
	}
	named := make(map[string]bool, len(rows))
	for _, r := range rows {
		named[r.BlobKey] = true
	}
	n := 0
	for _, key := range old {
		if named[key] {
			continue
		}
		used, err := q.st.BlobReferenced(ctx, key)
		if err != nil {
			return n, fmt.Errorf("queue: sweep orphans: %w", err)
		}
		if used {
			q.log.Warn("queue: sweep orphans: a message row names a body in the queue's blob directory; is it shared with the mailbox store?", "key", key)
			continue
		}
		if err := q.blobs.Delete(ctx, key); err != nil && !errors.Is(err, blob.ErrNotFound) {
			return n, fmt.Errorf("queue: sweep orphans: %w", err)
		}
		q.log.Info("queue: removed orphaned body", "key", key)
		n++
	}
	return n, nil
}

// maybeSweep starts an orphan sweep in the background if the last one
// started at least sweepEvery ago and none is running. Claim calls it, so
// the sweep runs where the queue is worked (the smtp-out tier's delivery
// runner), not in short-lived commands that merely open the queue.
func (q *Queue) maybeSweep() {
	if q.sweepEvery < 0 {
		return
	}
	now := time.Now()
	q.sweepMu.Lock()
	if q.sweeping || (!q.lastSweep.IsZero() && now.Sub(q.lastSweep) < q.sweepEvery) {
		q.sweepMu.Unlock()
		return
	}
	q.sweeping, q.lastSweep = true, now
	q.sweepMu.Unlock()
	go func() {
		defer func() {
			q.sweepMu.Lock()
			q.sweeping = false
			q.sweepMu.Unlock()
		}()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		if _, err := q.SweepOrphans(ctx, OrphanAge); err != nil {
			q.log.Warn("queue: sweep orphaned bodies", "err", err)
		}
	}()
}
