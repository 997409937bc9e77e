package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/cabalmail/cabalmail/internal/store"
)

const suppressionCols = `id, user_id, address, reason, code, text, provider, queue_id, created_at, released_at, released_by`

func scanSuppression(sc interface{ Scan(...any) error }) (store.Suppression, error) {
	var e store.Suppression
	var created int64
	var released sql.NullInt64
	err := sc.Scan(&e.ID, &e.UserID, &e.Address, &e.Reason, &e.Code, &e.Text, &e.Provider, &e.QueueID, &created, &released, &e.ReleasedBy)
	e.CreatedAt, e.ReleasedAt = fromNanos(created), fromNullNanos(released)
	return e, err
}

// AddSuppression stores e in force; ErrExists if the user has one in force
// for the address.
func (s *Store) AddSuppression(ctx context.Context, e *store.Suppression) error {
	e.Address = strings.ToLower(e.Address)
	if err := store.CheckSuppression(e); err != nil {
		return fmt.Errorf("sqlite: add suppression: %w", err)
	}
	if err := checkTimes(e.CreatedAt); err != nil {
		return fmt.Errorf("sqlite: add suppression %s: %w", e.Address, err)
	}
	t := orNow(e.CreatedAt)
	res, err := s.execOnce(ctx, `INSERT INTO suppression (user_id, address, reason, code, text, provider, queue_id, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, e.UserID, e.Address, e.Reason, e.Code, e.Text, e.Provider, e.QueueID, nanos(t))
	if err != nil {
		return fmt.Errorf("sqlite: add suppression %s: %w", e.Address, mapErr(err))
	}
	id, err := res.LastInsertId()
	if err != nil {
		return fmt.Errorf("sqlite: add suppression %s: %w", e.Address, err)
	}
	e.ID, e.CreatedAt = id, t
	return nil
}

// ActiveSuppression returns the user's entry in force for address.
func (s *Store) ActiveSuppression(ctx context.Context, userID int64, address string) (store.Suppression, error) {
	row := s.queryRow(ctx, `SELECT `+suppressionCols+` FROM suppression
		WHERE user_id = ? AND address = ? AND released_at IS NULL`, userID, strings.ToLower(address))
	e, err := scanSuppression(row)
	if err != nil {
		return store.Suppression{}, fmt.Errorf("sqlite: %w", notFound(err, "suppression of "+address))
	}
	return e, nil
}

// ListSuppressions returns entries, newest first.
func (s *Store) ListSuppressions(ctx context.Context, f store.SuppressionFilter) ([]store.Suppression, error) {
	q := `SELECT ` + suppressionCols + ` FROM suppression WHERE 1 = 1`
	var args []any
	if f.UserID != 0 {
		q += ` AND user_id = ?`
		args = append(args, f.UserID)
	}
	if f.Address != "" {
		q += ` AND address = ?`
		args = append(args, strings.ToLower(f.Address))
	}
	if f.ActiveOnly {
		q += ` AND released_at IS NULL`
	}
	q += ` ORDER BY created_at DESC, id DESC`
	if f.Limit > 0 {
		q += ` LIMIT ?`
		args = append(args, f.Limit)
	}
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list suppressions: %w", err)
	}
	defer rows.Close()
	var out []store.Suppression
	for rows.Next() {
		e, err := scanSuppression(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: list suppressions: %w", err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list suppressions: %w", err)
	}
	return out, nil
}

// ReleaseSuppressions releases the entries in force for address (one
// user's, or everybody's for userID 0).
func (s *Store) ReleaseSuppressions(ctx context.Context, userID int64, address, by string, at time.Time) (int, error) {
	if by == "" {
		return 0, fmt.Errorf("sqlite: release suppression %s: %w suppression: who releases it is required", address, store.ErrInvalid)
	}
	if err := checkTimes(at); err != nil {
		return 0, fmt.Errorf("sqlite: release suppression %s: %w", address, err)
	}
	q := `UPDATE suppression SET released_at = ?, released_by = ? WHERE address = ? AND released_at IS NULL`
	args := []any{nanos(orNow(at)), by, strings.ToLower(address)}
	if userID != 0 {
		q += ` AND user_id = ?`
		args = append(args, userID)
	}
	res, err := s.execOnce(ctx, q, args...)
	if err != nil {
		return 0, fmt.Errorf("sqlite: release suppression %s: %w", address, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("sqlite: release suppression %s: %w", address, err)
	}
	if n == 0 {
		return 0, fmt.Errorf("sqlite: release suppression %s: none in force: %w", address, store.ErrNotFound)
	}
	return int(n), nil
}
