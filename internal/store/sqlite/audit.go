package sqlite

import (
	"context"
	"fmt"

	"github.com/cabalmail/cabalmail/internal/store"
)

// AddAudit stores e and sets e.ID, and e.Time if it is unset.
func (s *Store) AddAudit(ctx context.Context, e *store.AuditEntry) error {
	if e.Actor == "" || e.Action == "" {
		return fmt.Errorf("sqlite: add audit: %w audit entry: actor and action are required", store.ErrInvalid)
	}
	if err := checkTimes(e.Time); err != nil {
		return fmt.Errorf("sqlite: add audit %s: %w", e.Action, err)
	}
	t := orNow(e.Time)
	res, err := s.execOnce(ctx, `INSERT INTO audit (time, actor, action, target, detail) VALUES (?, ?, ?, ?, ?)`,
		nanos(t), e.Actor, e.Action, e.Target, e.Detail)
	if err != nil {
		return fmt.Errorf("sqlite: add audit %s: %w", e.Action, err)
	}
	id, err := res.LastInsertId()
	if err != nil {
		return fmt.Errorf("sqlite: add audit %s: %w", e.Action, err)
	}
	e.ID = id
	e.Time = t
	return nil
}

// ListAudit returns up to limit entries (all if limit <= 0), newest first.
func (s *Store) ListAudit(ctx context.Context, limit int) ([]store.AuditEntry, error) {
	q := `SELECT id, time, actor, action, target, detail FROM audit ORDER BY time DESC, id DESC`
	var args []any
	if limit > 0 {
		q += ` LIMIT ?`
		args = append(args, limit)
	}
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list audit: %w", err)
	}
	defer rows.Close()
	var entries []store.AuditEntry
	for rows.Next() {
		var e store.AuditEntry
		var t int64
		if err := rows.Scan(&e.ID, &t, &e.Actor, &e.Action, &e.Target, &e.Detail); err != nil {
			return nil, fmt.Errorf("sqlite: list audit: %w", err)
		}
		e.Time = fromNanos(t)
		entries = append(entries, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list audit: %w", err)
	}
	return entries, nil
}
