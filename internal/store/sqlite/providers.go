package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/cabalmail/cabalmail/internal/store"
)

// RecordProviderAttempt stores one attempt.
func (s *Store) RecordProviderAttempt(ctx context.Context, a store.ProviderAttempt) error {
	if err := store.CheckProviderAttempt(a); err != nil {
		return fmt.Errorf("sqlite: record provider attempt: %w", err)
	}
	if err := checkTimes(a.Time); err != nil {
		return fmt.Errorf("sqlite: record provider attempt %s: %w", a.Provider, err)
	}
	_, err := s.execOnce(ctx, insertAttempt,
		a.Provider, nanos(orNow(a.Time)), a.Result, boolInt(a.KnownUnknown))
	if err != nil {
		return fmt.Errorf("sqlite: record provider attempt %s: %w", a.Provider, err)
	}
	return nil
}

// RecordProviderBatch stores attempts and acceptances in one transaction.
func (s *Store) RecordProviderBatch(ctx context.Context, attempts []store.ProviderAttempt, accepted []store.Accepted) error {
	for _, a := range attempts {
		if err := store.CheckProviderAttempt(a); err != nil {
			return fmt.Errorf("sqlite: record provider batch: %w", err)
		}
		if err := checkTimes(a.Time); err != nil {
			return fmt.Errorf("sqlite: record provider batch: %w", err)
		}
	}
	for _, a := range accepted {
		if a.Key == "" {
			return fmt.Errorf("sqlite: record provider batch: %w recipient key: empty", store.ErrInvalid)
		}
		if err := checkTimes(a.At); err != nil {
			return fmt.Errorf("sqlite: record provider batch: %w", err)
		}
	}
	if len(attempts) == 0 && len(accepted) == 0 {
		return nil
	}
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		ins, err := tx.PrepareContext(ctx, insertAttempt)
		if err != nil {
			return err
		}
		defer ins.Close()
		for _, a := range attempts {
			if _, err := ins.ExecContext(ctx, a.Provider, nanos(orNow(a.Time)), a.Result, boolInt(a.KnownUnknown)); err != nil {
				return err
			}
		}
		up, err := tx.PrepareContext(ctx, upsertAccepted)
		if err != nil {
			return err
		}
		defer up.Close()
		for _, a := range accepted {
			t := nanos(orNow(a.At))
			if _, err := up.ExecContext(ctx, a.Key, t, t); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sqlite: record provider batch: %w", err)
	}
	return nil
}

const insertAttempt = `INSERT INTO provider_attempts (provider, time, result, known_unknown) VALUES (?, ?, ?, ?)`

const upsertAccepted = `INSERT INTO accepted_recipients (rcpt_key, first_at, last_at) VALUES (?, ?, ?)
	ON CONFLICT (rcpt_key) DO UPDATE SET count = count + 1, last_at = MAX(last_at, excluded.last_at),
	first_at = MIN(first_at, excluded.first_at)`

const countsSelect = `SELECT provider,
	COALESCE(SUM(result = 'sent'), 0), COALESCE(SUM(result = 'deferred'), 0), COALESCE(SUM(result = 'bounced'), 0),
	COALESCE(SUM(known_unknown), 0)
	FROM provider_attempts WHERE time >= ?`

// ProviderCounts counts provider's attempts at or after since.
func (s *Store) ProviderCounts(ctx context.Context, provider string, since time.Time) (store.ProviderCounts, error) {
	c := store.ProviderCounts{Provider: provider}
	var name sql.NullString
	err := s.db.QueryRowContext(ctx, countsSelect+` AND provider = ?`, clampNanos(since), provider).
		Scan(&name, &c.Sent, &c.Deferred, &c.Bounced, &c.KnownUnknown)
	if err != nil {
		return c, fmt.Errorf("sqlite: provider counts %s: %w", provider, err)
	}
	return c, nil
}

// ListProviderCounts counts every provider's attempts at or after since.
func (s *Store) ListProviderCounts(ctx context.Context, since time.Time) ([]store.ProviderCounts, error) {
	rows, err := s.db.QueryContext(ctx, countsSelect+` GROUP BY provider ORDER BY COUNT(*) DESC, provider`, clampNanos(since))
	if err != nil {
		return nil, fmt.Errorf("sqlite: list provider counts: %w", err)
	}
	defer rows.Close()
	var out []store.ProviderCounts
	for rows.Next() {
		var c store.ProviderCounts
		if err := rows.Scan(&c.Provider, &c.Sent, &c.Deferred, &c.Bounced, &c.KnownUnknown); err != nil {
			return nil, fmt.Errorf("sqlite: list provider counts: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list provider counts: %w", err)
	}
	return out, nil
}

// PruneProviderAttempts removes attempts before the given time.
func (s *Store) PruneProviderAttempts(ctx context.Context, before time.Time) (int, error) {
	res, err := s.execOnce(ctx, `DELETE FROM provider_attempts WHERE time < ?`, clampNanos(before))
	if err != nil {
		return 0, fmt.Errorf("sqlite: prune provider attempts: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("sqlite: prune provider attempts: %w", err)
	}
	return int(n), nil
}

const providerCols = `name, state, since, until, reason, changed_by, count_from`

func scanProvider(sc interface{ Scan(...any) error }) (store.Provider, error) {
	var p store.Provider
	var since int64
	var until, countFrom sql.NullInt64
	err := sc.Scan(&p.Name, &p.State, &since, &until, &p.Reason, &p.ChangedBy, &countFrom)
	p.Since, p.Until, p.CountFrom = fromNanos(since), fromNullNanos(until), fromNullNanos(countFrom)
	return p, err
}

// ProviderByName returns a provider's stored state.
func (s *Store) ProviderByName(ctx context.Context, name string) (store.Provider, error) {
	p, err := scanProvider(s.db.QueryRowContext(ctx, `SELECT `+providerCols+` FROM providers WHERE name = ?`, name))
	if err != nil {
		return store.Provider{}, fmt.Errorf("sqlite: %w", notFound(err, "provider "+name))
	}
	return p, nil
}

// SetProvider stores p's state.
func (s *Store) SetProvider(ctx context.Context, p store.Provider) error {
	if err := store.CheckProvider(p); err != nil {
		return fmt.Errorf("sqlite: set provider: %w", err)
	}
	if err := checkTimes(p.Since, p.Until, p.CountFrom); err != nil {
		return fmt.Errorf("sqlite: set provider %s: %w", p.Name, err)
	}
	_, err := s.execOnce(ctx, `INSERT INTO providers (`+providerCols+`) VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET state = excluded.state, since = excluded.since, until = excluded.until,
		reason = excluded.reason, changed_by = excluded.changed_by, count_from = excluded.count_from`,
		p.Name, p.State, nanos(orNow(p.Since)), nullNanos(p.Until), p.Reason, p.ChangedBy, nullNanos(p.CountFrom))
	if err != nil {
		return fmt.Errorf("sqlite: set provider %s: %w", p.Name, err)
	}
	return nil
}

// ListProviders returns every stored provider state, by name.
func (s *Store) ListProviders(ctx context.Context) ([]store.Provider, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+providerCols+` FROM providers ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list providers: %w", err)
	}
	defer rows.Close()
	var out []store.Provider
	for rows.Next() {
		p, err := scanProvider(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: list providers: %w", err)
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list providers: %w", err)
	}
	return out, nil
}

// RecordAccepted notes that the recipient accepted a message.
func (s *Store) RecordAccepted(ctx context.Context, rcptKey string, at time.Time) error {
	if rcptKey == "" {
		return fmt.Errorf("sqlite: record accepted: %w recipient key: empty", store.ErrInvalid)
	}
	if err := checkTimes(at); err != nil {
		return fmt.Errorf("sqlite: record accepted: %w", err)
	}
	t := nanos(orNow(at))
	_, err := s.execOnce(ctx, upsertAccepted, rcptKey, t, t)
	if err != nil {
		return fmt.Errorf("sqlite: record accepted: %w", err)
	}
	return nil
}

// AcceptedBefore reports whether the recipient accepted a message at or
// before at.
func (s *Store) AcceptedBefore(ctx context.Context, rcptKey string, at time.Time) (bool, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM accepted_recipients WHERE rcpt_key = ? AND first_at <= ?`,
		rcptKey, clampNanos(at)).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("sqlite: accepted before: %w", err)
	}
	return n > 0, nil
}

const quarantineCols = `id, provider, rcpt, user_id, queue_id, code, text, reason, created_at, resolved_at, resolution`

func scanQuarantine(sc interface{ Scan(...any) error }) (store.Quarantine, error) {
	var q store.Quarantine
	var created int64
	var resolved sql.NullInt64
	err := sc.Scan(&q.ID, &q.Provider, &q.Rcpt, &q.UserID, &q.QueueID, &q.Code, &q.Text, &q.Reason, &created, &resolved, &q.Resolution)
	q.CreatedAt, q.ResolvedAt = fromNanos(created), fromNullNanos(resolved)
	return q, err
}

// AddQuarantine opens q; ErrExists if the recipient has an open entry.
func (s *Store) AddQuarantine(ctx context.Context, q *store.Quarantine) error {
	if q.Provider == "" || q.Rcpt == "" {
		return fmt.Errorf("sqlite: add quarantine: %w quarantine: provider and recipient are required", store.ErrInvalid)
	}
	if !q.ResolvedAt.IsZero() {
		return fmt.Errorf("sqlite: add quarantine %s: %w quarantine: a new entry cannot be resolved already", q.Rcpt, store.ErrInvalid)
	}
	if err := checkTimes(q.CreatedAt); err != nil {
		return fmt.Errorf("sqlite: add quarantine %s: %w", q.Rcpt, err)
	}
	t := orNow(q.CreatedAt)
	res, err := s.execOnce(ctx, `INSERT INTO quarantine (provider, rcpt, user_id, queue_id, code, text, reason, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, q.Provider, q.Rcpt, q.UserID, q.QueueID, q.Code, q.Text, q.Reason, nanos(t))
	if err != nil {
		return fmt.Errorf("sqlite: add quarantine %s: %w", q.Rcpt, mapErr(err))
	}
	id, err := res.LastInsertId()
	if err != nil {
		return fmt.Errorf("sqlite: add quarantine %s: %w", q.Rcpt, err)
	}
	q.ID, q.CreatedAt = id, t
	return nil
}

// OpenQuarantine returns the recipient's open entry.
func (s *Store) OpenQuarantine(ctx context.Context, rcpt string) (store.Quarantine, error) {
	q, err := scanQuarantine(s.db.QueryRowContext(ctx, `SELECT `+quarantineCols+` FROM quarantine WHERE rcpt = ? AND resolved_at IS NULL`, rcpt))
	if err != nil {
		return store.Quarantine{}, fmt.Errorf("sqlite: %w", notFound(err, "quarantine of "+rcpt))
	}
	return q, nil
}

// ListQuarantine returns entries of provider ("" for all), newest first.
func (s *Store) ListQuarantine(ctx context.Context, provider string, openOnly bool) ([]store.Quarantine, error) {
	q := `SELECT ` + quarantineCols + ` FROM quarantine WHERE 1 = 1`
	var args []any
	if provider != "" {
		q += ` AND provider = ?`
		args = append(args, provider)
	}
	if openOnly {
		q += ` AND resolved_at IS NULL`
	}
	rows, err := s.db.QueryContext(ctx, q+` ORDER BY created_at DESC, id DESC`, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list quarantine: %w", err)
	}
	defer rows.Close()
	var out []store.Quarantine
	for rows.Next() {
		e, err := scanQuarantine(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: list quarantine: %w", err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list quarantine: %w", err)
	}
	return out, nil
}

// ResolveQuarantine closes an open entry.
func (s *Store) ResolveQuarantine(ctx context.Context, id int64, resolution string, at time.Time) error {
	if resolution == "" {
		return fmt.Errorf("sqlite: resolve quarantine %d: %w quarantine: empty resolution", id, store.ErrInvalid)
	}
	if err := checkTimes(at); err != nil {
		return fmt.Errorf("sqlite: resolve quarantine %d: %w", id, err)
	}
	res, err := s.execOnce(ctx, `UPDATE quarantine SET resolved_at = ?, resolution = ? WHERE id = ? AND resolved_at IS NULL`,
		nanos(orNow(at)), resolution, id)
	if err != nil {
		return fmt.Errorf("sqlite: resolve quarantine %d: %w", id, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("sqlite: resolve quarantine %d: %w", id, err)
	}
	if n == 0 {
		return fmt.Errorf("sqlite: resolve quarantine %d: no open entry: %w", id, store.ErrNotFound)
	}
	return nil
}
