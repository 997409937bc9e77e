package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/cabalmail/cabalmail/internal/store"
)

// AddEvent stores e and sets e.ID, and e.Time if it is unset.
func (s *Store) AddEvent(ctx context.Context, e *store.Event) error {
	if e.Tier == "" {
		return fmt.Errorf("sqlite: add event: %w event: empty tier", store.ErrInvalid)
	}
	if err := checkTimes(e.Time); err != nil {
		return fmt.Errorf("sqlite: add event: %w", err)
	}
	t := orNow(e.Time)
	res, err := s.exec(ctx, `INSERT INTO events (time, tier, queue_id, rcpt, delay_ns, relay, dsn, status, detail)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		nanos(t), e.Tier, e.QueueID, e.Rcpt, int64(e.Delay), e.Relay, e.DSN, e.Status, e.Detail)
	if err != nil {
		return fmt.Errorf("sqlite: add event: %w", err)
	}
	id, err := res.LastInsertId()
	if err != nil {
		return fmt.Errorf("sqlite: add event: %w", err)
	}
	e.ID = id
	e.Time = t
	return nil
}

// AddEvents stores events in one transaction and sets their IDs (and
// Times if unset); if one is invalid none is stored.
func (s *Store) AddEvents(ctx context.Context, events []*store.Event) error {
	for i, e := range events {
		if e == nil {
			return fmt.Errorf("sqlite: add events: %w event: #%d is nil", store.ErrInvalid, i)
		}
		if e.Tier == "" {
			return fmt.Errorf("sqlite: add events: %w event: #%d has an empty tier", store.ErrInvalid, i)
		}
		if err := checkTimes(e.Time); err != nil {
			return fmt.Errorf("sqlite: add events: #%d: %w", i, err)
		}
	}
	if len(events) == 0 {
		return nil
	}
	ids := make([]int64, len(events))
	times := make([]time.Time, len(events))
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		stmt, err := s.txStmt(ctx, tx, `INSERT INTO events (time, tier, queue_id, rcpt, delay_ns, relay, dsn, status, detail)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`)
		if err != nil {
			return err
		}
		for i, e := range events {
			t := orNow(e.Time)
			res, err := stmt.ExecContext(ctx, nanos(t), e.Tier, e.QueueID, e.Rcpt, int64(e.Delay), e.Relay, e.DSN, e.Status, e.Detail)
			if err != nil {
				return err
			}
			if ids[i], err = res.LastInsertId(); err != nil {
				return err
			}
			times[i] = t
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sqlite: add events: %w", err)
	}
	for i, e := range events {
		e.ID, e.Time = ids[i], times[i]
	}
	return nil
}

// ListEvents returns the events f selects, newest first.
func (s *Store) ListEvents(ctx context.Context, f store.EventFilter) ([]store.Event, error) {
	if f.Since.After(maxTime) {
		return nil, nil // nothing stored can be that late
	}
	var where []string
	var args []any
	if !f.Since.IsZero() {
		where = append(where, `time >= ?`)
		args = append(args, clampNanos(f.Since))
	}
	if f.Tier != "" {
		where = append(where, `tier = ?`)
		args = append(args, f.Tier)
	}
	q := `SELECT id, time, tier, queue_id, rcpt, delay_ns, relay, dsn, status, detail FROM events`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, ` AND `)
	}
	q += ` ORDER BY time DESC, id DESC`
	if f.Limit > 0 {
		q += ` LIMIT ?`
		args = append(args, f.Limit)
	}
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list events: %w", err)
	}
	defer rows.Close()
	var events []store.Event
	for rows.Next() {
		var e store.Event
		var t, delay int64
		if err := rows.Scan(&e.ID, &t, &e.Tier, &e.QueueID, &e.Rcpt, &delay, &e.Relay, &e.DSN, &e.Status, &e.Detail); err != nil {
			return nil, fmt.Errorf("sqlite: list events: %w", err)
		}
		e.Time = fromNanos(t)
		e.Delay = time.Duration(delay)
		events = append(events, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list events: %w", err)
	}
	return events, nil
}
