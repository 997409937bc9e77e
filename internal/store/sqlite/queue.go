package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"time"

	"github.com/cabalmail/cabalmail/internal/store"
)

const queueColumns = `id, sender, blob_key, size, COALESCE(user_id, 0), dsn, attempts, next_attempt, last_error,
	held, lease_owner, lease_until, created_at, delay_notified, sign_domain`

// EnqueueItems inserts the items and their recipients in one transaction.
func (s *Store) EnqueueItems(ctx context.Context, items []*store.QueueItem) error {
	for _, it := range items {
		if err := store.CheckQueueItem(it); err != nil {
			return fmt.Errorf("sqlite: enqueue: %w", err)
		}
		if err := checkTimes(it.NextAttempt, it.CreatedAt); err != nil {
			return fmt.Errorf("sqlite: enqueue: %w", err)
		}
	}
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		insItem, err := s.txStmt(ctx, tx, `INSERT INTO queue (id, sender, blob_key, size, user_id, dsn, next_attempt, created_at, sign_domain)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`)
		if err != nil {
			return err
		}
		insRcpt, err := s.txStmt(ctx, tx, `INSERT INTO queue_recipients (queue_id, rcpt) VALUES (?, ?)`)
		if err != nil {
			return err
		}
		for _, it := range items {
			created := orNow(it.CreatedAt)
			next := it.NextAttempt
			if next.IsZero() {
				next = created
			}
			var user sql.NullInt64
			if it.UserID != 0 {
				user = sql.NullInt64{Int64: it.UserID, Valid: true}
			}
			if _, err := insItem.ExecContext(ctx, it.ID, it.Sender, it.BlobKey, it.Size, user, boolInt(it.IsDSN),
				nanos(next), nanos(created), it.SignDomain); err != nil {
				return mapErr(err)
			}
			for _, r := range it.Recipients {
				if _, err := insRcpt.ExecContext(ctx, it.ID, r.Rcpt); err != nil {
					return mapErr(err)
				}
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sqlite: enqueue: %w", err)
	}
	for _, it := range items {
		it.CreatedAt = orNow(it.CreatedAt)
		if it.NextAttempt.IsZero() {
			it.NextAttempt = it.CreatedAt
		}
		for i := range it.Recipients {
			it.Recipients[i].State = store.RecipientPending
		}
	}
	return nil
}

type rowScanner interface{ Scan(dest ...any) error }

func scanQueueItem(sc rowScanner) (store.QueueItem, error) {
	var it store.QueueItem
	var dsn, held, notified int
	var next, leaseUntil, created int64
	if err := sc.Scan(&it.ID, &it.Sender, &it.BlobKey, &it.Size, &it.UserID, &dsn, &it.Attempts, &next, &it.LastError,
		&held, &it.LeaseOwner, &leaseUntil, &created, &notified, &it.SignDomain); err != nil {
		return it, err
	}
	it.IsDSN, it.Held, it.DelayNotified = dsn == 1, held == 1, notified == 1
	it.NextAttempt, it.CreatedAt = fromNanos(next), fromNanos(created)
	if leaseUntil != 0 {
		it.LeaseUntil = fromNanos(leaseUntil)
	}
	return it, nil
}

// recipientsOf loads the recipients of the given items, in the order they
// were enqueued.
func recipientsOf(ctx context.Context, q interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}, items []store.QueueItem) error {
	if len(items) == 0 {
		return nil
	}
	idx := make(map[string]int, len(items))
	args := make([]any, len(items))
	for i, it := range items {
		idx[it.ID] = i
		args[i] = it.ID
	}
	for start := 0; start < len(args); start += 500 {
		end := min(start+500, len(args))
		rows, err := q.QueryContext(ctx, `SELECT queue_id, rcpt, state, attempts, last_dsn, last_error, last_attempt
			FROM queue_recipients WHERE queue_id IN (`+placeholders(end-start)+`) ORDER BY rowid`, args[start:end]...)
		if err != nil {
			return err
		}
		for rows.Next() {
			var id string
			var r store.QueueRecipient
			var last sql.NullInt64
			if err := rows.Scan(&id, &r.Rcpt, &r.State, &r.Attempts, &r.LastDSN, &r.LastError, &last); err != nil {
				rows.Close()
				return err
			}
			r.LastAttempt = fromNullNanos(last)
			it := &items[idx[id]]
			it.Recipients = append(it.Recipients, r)
		}
		if err := rows.Close(); err != nil {
			return err
		}
		if err := rows.Err(); err != nil {
			return err
		}
	}
	return nil
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?,", n), ",")
}

// QueueItem returns one item with its recipients.
func (s *Store) QueueItem(ctx context.Context, id string) (store.QueueItem, error) {
	var it store.QueueItem
	err := s.readTx(ctx, func(tx *sql.Tx) error {
		var err error
		it, err = scanQueueItem(s.cached(tx).QueryRowContext(ctx, `SELECT `+queueColumns+` FROM queue WHERE id = ?`, id))
		if err != nil {
			return notFound(err, "queue item "+id)
		}
		items := []store.QueueItem{it}
		if err := recipientsOf(ctx, tx, items); err != nil {
			return err
		}
		it = items[0]
		return nil
	})
	if err != nil {
		return store.QueueItem{}, fmt.Errorf("sqlite: queue item: %w", err)
	}
	return it, nil
}

// scanQueueItems reads every row of rows and closes it.
func scanQueueItems(rows *sql.Rows) ([]store.QueueItem, error) {
	defer rows.Close()
	var items []store.QueueItem
	for rows.Next() {
		it, err := scanQueueItem(rows)
		if err != nil {
			return nil, err
		}
		items = append(items, it)
	}
	if err := rows.Close(); err != nil {
		return nil, err
	}
	return items, rows.Err()
}

// ListQueue returns every item with its recipients, oldest first.
func (s *Store) ListQueue(ctx context.Context) ([]store.QueueItem, error) {
	var items []store.QueueItem
	err := s.readTx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT `+queueColumns+` FROM queue ORDER BY created_at, id`)
		if err != nil {
			return err
		}
		if items, err = scanQueueItems(rows); err != nil {
			return err
		}
		return recipientsOf(ctx, tx, items)
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: list queue: %w", err)
	}
	return items, nil
}

// ClaimQueue leases due items to owner.
func (s *Store) ClaimQueue(ctx context.Context, owner string, now, leaseUntil time.Time, limit int) ([]store.QueueItem, error) {
	if owner == "" {
		return nil, fmt.Errorf("sqlite: claim queue: %w lease owner: empty", store.ErrInvalid)
	}
	if limit <= 0 {
		return nil, nil
	}
	var items []store.QueueItem
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		n := clampNanos(now)
		rows, err := s.cached(tx).QueryContext(ctx, `UPDATE queue SET lease_owner = ?, lease_until = ?
			WHERE id IN (SELECT id FROM queue WHERE held = 0 AND next_attempt <= ? AND lease_until <= ?
				ORDER BY next_attempt, created_at LIMIT ?)
			RETURNING `+queueColumns, owner, clampNanos(leaseUntil), n, n, limit)
		if err != nil {
			return err
		}
		if items, err = scanQueueItems(rows); err != nil {
			return err
		}
		return recipientsOf(ctx, tx, items)
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: claim queue: %w", err)
	}
	return items, nil
}

// ExtendLease moves owner's leases on ids to until.
func (s *Store) ExtendLease(ctx context.Context, owner string, ids []string, until time.Time) error {
	if len(ids) == 0 {
		return nil
	}
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		for start := 0; start < len(ids); start += 500 {
			end := min(start+500, len(ids))
			args := []any{clampNanos(until), owner}
			for _, id := range ids[start:end] {
				args = append(args, id)
			}
			if _, err := tx.ExecContext(ctx, `UPDATE queue SET lease_until = ? WHERE lease_owner = ? AND id IN (`+
				placeholders(end-start)+`)`, args...); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sqlite: extend lease: %w", err)
	}
	return nil
}

// FinishQueueAttempts records attempts and releases leases in one
// transaction.
func (s *Store) FinishQueueAttempts(ctx context.Context, owner string, results []store.QueueResult) (done, lost []string, err error) {
	for _, r := range results {
		if err := checkTimes(r.NextAttempt); err != nil {
			return nil, nil, fmt.Errorf("sqlite: finish attempts: %w", err)
		}
		for _, rc := range r.Recipients {
			if err := store.CheckRecipientState(rc.State); err != nil {
				return nil, nil, fmt.Errorf("sqlite: finish attempts %s: %w", r.ID, err)
			}
			if err := checkTimes(rc.LastAttempt); err != nil {
				return nil, nil, fmt.Errorf("sqlite: finish attempts: %w", err)
			}
		}
		for _, e := range r.Events {
			if e.Tier == "" {
				return nil, nil, fmt.Errorf("sqlite: finish attempts %s: %w event: empty tier", r.ID, store.ErrInvalid)
			}
			if err := checkTimes(e.Time); err != nil {
				return nil, nil, fmt.Errorf("sqlite: finish attempts: %w", err)
			}
		}
	}
	err = s.writeTx(ctx, func(tx *sql.Tx) error {
		done, lost = nil, nil
		updRcpt, err := s.txStmt(ctx, tx, `UPDATE queue_recipients SET state = ?, attempts = ?, last_dsn = ?,
			last_error = ?, last_attempt = ? WHERE queue_id = ? AND rcpt = ?`)
		if err != nil {
			return err
		}
		insEvent, err := s.txStmt(ctx, tx, `INSERT INTO events (time, tier, queue_id, rcpt, delay_ns, relay, dsn, status, detail)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`)
		if err != nil {
			return err
		}
		selItem, err := s.txStmt(ctx, tx, `SELECT lease_owner, blob_key FROM queue WHERE id = ?`)
		if err != nil {
			return err
		}
		countPending, err := s.txStmt(ctx, tx, `SELECT COUNT(*) FROM queue_recipients WHERE queue_id = ? AND state = 'pending'`)
		if err != nil {
			return err
		}
		delItem, err := s.txStmt(ctx, tx, `DELETE FROM queue WHERE id = ?`)
		if err != nil {
			return err
		}
		updItem, err := s.txStmt(ctx, tx, `UPDATE queue SET attempts = attempts + 1, next_attempt = ?, last_error = ?,
				delay_notified = MAX(delay_notified, ?), lease_owner = '', lease_until = 0 WHERE id = ?`)
		if err != nil {
			return err
		}
		for _, r := range results {
			var leaseOwner, blobKey string
			err := selItem.QueryRowContext(ctx, r.ID).Scan(&leaseOwner, &blobKey)
			if err == sql.ErrNoRows || err == nil && leaseOwner != owner {
				lost = append(lost, r.ID)
				continue
			}
			if err != nil {
				return err
			}
			for _, rc := range r.Recipients {
				if _, err := updRcpt.ExecContext(ctx, string(rc.State), rc.Attempts, rc.LastDSN, rc.LastError,
					nullNanos(rc.LastAttempt), r.ID, rc.Rcpt); err != nil {
					return err
				}
			}
			for _, e := range r.Events {
				t := orNow(e.Time)
				if _, err := insEvent.ExecContext(ctx, nanos(t), e.Tier, e.QueueID, e.Rcpt, int64(e.Delay), e.Relay,
					e.DSN, e.Status, e.Detail); err != nil {
					return err
				}
			}
			var pending int
			if err := countPending.QueryRowContext(ctx, r.ID).Scan(&pending); err != nil {
				return err
			}
			if pending == 0 {
				if _, err := delItem.ExecContext(ctx, r.ID); err != nil {
					return err
				}
				done = append(done, blobKey)
				continue
			}
			if _, err := updItem.ExecContext(ctx, nanos(orNow(r.NextAttempt)), r.LastError, boolInt(r.DelayNotified), r.ID); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("sqlite: finish attempts: %w", err)
	}
	return done, lost, nil
}

// ReleaseLease gives up owner's lease on id.
func (s *Store) ReleaseLease(ctx context.Context, owner, id string) error {
	if _, err := s.exec(ctx, `UPDATE queue SET lease_owner = '', lease_until = 0 WHERE id = ? AND lease_owner = ?`,
		id, owner); err != nil {
		return fmt.Errorf("sqlite: release lease %s: %w", id, err)
	}
	return nil
}

// SetQueueHeld holds or releases an item.
func (s *Store) SetQueueHeld(ctx context.Context, id string, held bool) error {
	return s.updateQueueItem(ctx, "hold", id, `UPDATE queue SET held = ? WHERE id = ?`, boolInt(held), id)
}

// RetryQueueItem makes an item due at at.
func (s *Store) RetryQueueItem(ctx context.Context, id string, at time.Time) error {
	if err := checkTimes(at); err != nil {
		return fmt.Errorf("sqlite: retry %s: %w", id, err)
	}
	return s.updateQueueItem(ctx, "retry", id, `UPDATE queue SET next_attempt = ? WHERE id = ?`, nanos(orNow(at)), id)
}

func (s *Store) updateQueueItem(ctx context.Context, what, id, query string, args ...any) error {
	res, err := s.execOnce(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("sqlite: %s %s: %w", what, id, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("sqlite: %s %s: %w", what, id, err)
	}
	if n == 0 {
		return fmt.Errorf("sqlite: %s queue item %s: %w", what, id, store.ErrNotFound)
	}
	return nil
}

// DeleteQueueItem removes an item and returns its blob key.
func (s *Store) DeleteQueueItem(ctx context.Context, id string) (string, error) {
	var key string
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		return s.cached(tx).QueryRowContext(ctx, `DELETE FROM queue WHERE id = ? RETURNING blob_key`, id).Scan(&key)
	})
	if err != nil {
		return "", fmt.Errorf("sqlite: delete queue item: %w", notFound(err, "queue item "+id))
	}
	return key, nil
}
