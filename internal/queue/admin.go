package queue

import (
	"context"
	"errors"
	"fmt"
)

// Retry makes the item due now. A held item stays held.
func (q *Queue) Retry(ctx context.Context, id string) error {
	if err := q.st.RetryQueueItem(ctx, id, q.now()); err != nil {
		return fmt.Errorf("queue: retry %s: %w", id, err)
	}
	return nil
}

// Hold keeps the item from being tried until it is released. An attempt
// already under way finishes.
func (q *Queue) Hold(ctx context.Context, id string) error {
	if err := q.st.SetQueueHeld(ctx, id, true); err != nil {
		return fmt.Errorf("queue: hold %s: %w", id, err)
	}
	return nil
}

// Release undoes Hold and makes the item due now.
func (q *Queue) Release(ctx context.Context, id string) error {
	if err := q.st.SetQueueHeld(ctx, id, false); err != nil {
		return fmt.Errorf("queue: release %s: %w", id, err)
	}
	if err := q.st.RetryQueueItem(ctx, id, q.now()); err != nil {
		return fmt.Errorf("queue: release %s: %w", id, err)
	}
	return nil
}

// Delete removes the item and its body. No DSN is sent.
func (q *Queue) Delete(ctx context.Context, id string) error {
	key, err := q.st.DeleteQueueItem(ctx, id)
	if err != nil {
		return fmt.Errorf("queue: delete %s: %w", id, err)
	}
	q.dropBlob(ctx, key)
	return nil
}

// dropBlob deletes a body no row names any more. A failure leaves an
// orphan, which is logged, not fatal: the message is already gone.
func (q *Queue) dropBlob(ctx context.Context, key string) {
	if err := q.blobs.Delete(context.WithoutCancel(ctx), key); err != nil {
		q.log.Warn("queue: remove body", "key", key, "err", err)
	}
}

// RetryAll makes every item due now.
func (q *Queue) RetryAll(ctx context.Context) (int, error) { return q.all(ctx, "retry", q.Retry) }

// HoldAll holds every item.
func (q *Queue) HoldAll(ctx context.Context) (int, error) { return q.all(ctx, "hold", q.Hold) }

// ReleaseAll releases every item.
func (q *Queue) ReleaseAll(ctx context.Context) (int, error) { return q.all(ctx, "release", q.Release) }

// DeleteAll removes every item.
func (q *Queue) DeleteAll(ctx context.Context) (int, error) { return q.all(ctx, "delete", q.Delete) }

// all applies fn to every queued item. Items that left the queue meanwhile
// (delivered) are skipped.
func (q *Queue) all(ctx context.Context, what string, fn func(context.Context, string) error) (int, error) {
	rows, err := q.st.ListQueue(ctx)
	if err != nil {
		return 0, fmt.Errorf("queue: %s all: %w", what, err)
	}
	n := 0
	for _, r := range rows {
		err := fn(ctx, r.ID)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}
