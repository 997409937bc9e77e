package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/cabalmail/cabalmail/internal/store"
)

// CreateToken stores t and sets t.ID and t.CreatedAt if it is unset.
func (s *Store) CreateToken(ctx context.Context, t *store.Token) error {
	if t.Hash == "" {
		return fmt.Errorf("sqlite: create token: %w token: empty hash", store.ErrInvalid)
	}
	if err := checkTimes(t.CreatedAt, t.LastUsed); err != nil {
		return fmt.Errorf("sqlite: create token: %w", err)
	}
	created := orNow(t.CreatedAt)
	var id int64
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		if err := exists(ctx, tx, `SELECT 1 FROM users WHERE id = ?`, t.UserID); err != nil {
			return notFound(err, fmt.Sprintf("user #%d", t.UserID))
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO tokens (user_id, hash, created_at, last_used) VALUES (?, ?, ?, ?)`,
			t.UserID, t.Hash, nanos(created), nullNanos(t.LastUsed))
		if err != nil {
			return mapErr(err)
		}
		id, err = res.LastInsertId()
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: create token for user #%d: %w", t.UserID, err)
	}
	t.ID = id
	t.CreatedAt = created
	return nil
}

// UserByToken returns the owner of the token with this hash and records the
// token's use.
func (s *Store) UserByToken(ctx context.Context, hash string) (store.User, error) {
	var u store.User
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		q := s.cached(tx)
		var err error
		u, err = scanUser(q.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users
			WHERE id = (SELECT user_id FROM tokens WHERE hash = ?)`, hash))
		if err != nil {
			return notFound(err, "token")
		}
		_, err = q.ExecContext(ctx, `UPDATE tokens SET last_used = ? WHERE hash = ?`, nanos(now()), hash)
		return err
	})
	if err != nil {
		return store.User{}, fmt.Errorf("sqlite: user by token: %w", err)
	}
	return u, nil
}

// DeleteTokens removes every token of the user.
func (s *Store) DeleteTokens(ctx context.Context, userID int64) error {
	if _, err := s.execOnce(ctx, `DELETE FROM tokens WHERE user_id = ?`, userID); err != nil {
		return fmt.Errorf("sqlite: delete tokens of user #%d: %w", userID, err)
	}
	return nil
}
