package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/cabalmail/cabalmail/internal/store"
)

// CreateSession stores s and sets s.ID and s.CreatedAt.
func (s *Store) CreateSession(ctx context.Context, sess *store.Session) error {
	if sess.Hash == "" || sess.CSRF == "" || sess.ExpiresAt.IsZero() {
		return fmt.Errorf("sqlite: create session: %w session: hash, CSRF token and expiry are required", store.ErrInvalid)
	}
	if err := checkTimes(sess.CreatedAt, sess.ExpiresAt); err != nil {
		return fmt.Errorf("sqlite: create session: %w", err)
	}
	created := orNow(sess.CreatedAt)
	var id int64
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		if err := exists(ctx, tx, `SELECT 1 FROM users WHERE id = ?`, sess.UserID); err != nil {
			return notFound(err, fmt.Sprintf("user #%d", sess.UserID))
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO web_sessions (hash, user_id, csrf, mfa, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)`,
			sess.Hash, sess.UserID, sess.CSRF, boolInt(sess.MFA), nanos(created), nanos(sess.ExpiresAt))
		if err != nil {
			return mapErr(err)
		}
		id, err = res.LastInsertId()
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: create session for user #%d: %w", sess.UserID, err)
	}
	sess.ID = id
	sess.CreatedAt = created
	sess.ExpiresAt = sess.ExpiresAt.UTC().Round(0)
	return nil
}

// SessionByHash returns the unexpired session with this hash.
func (s *Store) SessionByHash(ctx context.Context, hash string, at time.Time) (store.Session, error) {
	var sess store.Session
	var mfa int
	var created, expires int64
	err := s.db.QueryRowContext(ctx, `SELECT id, hash, user_id, csrf, mfa, created_at, expires_at FROM web_sessions
		WHERE hash = ? AND expires_at > ?`, hash, clampNanos(at)).
		Scan(&sess.ID, &sess.Hash, &sess.UserID, &sess.CSRF, &mfa, &created, &expires)
	if err != nil {
		return store.Session{}, fmt.Errorf("sqlite: session: %w", notFound(err, "session"))
	}
	sess.MFA = mfa == 1
	sess.CreatedAt, sess.ExpiresAt = fromNanos(created), fromNanos(expires)
	return sess, nil
}

// DeleteSession removes the session with this hash.
func (s *Store) DeleteSession(ctx context.Context, hash string) error {
	res, err := s.execOnce(ctx, `DELETE FROM web_sessions WHERE hash = ?`, hash)
	if err != nil {
		return fmt.Errorf("sqlite: delete session: %w", err)
	}
	if err := oneRow(res, "session"); err != nil {
		return fmt.Errorf("sqlite: delete session: %w", err)
	}
	return nil
}

// DeleteUserSessions removes every session of the user.
func (s *Store) DeleteUserSessions(ctx context.Context, userID int64) error {
	if _, err := s.execOnce(ctx, `DELETE FROM web_sessions WHERE user_id = ?`, userID); err != nil {
		return fmt.Errorf("sqlite: delete sessions of user #%d: %w", userID, err)
	}
	return nil
}

// DeleteExpiredSessions removes the sessions expired at at.
func (s *Store) DeleteExpiredSessions(ctx context.Context, at time.Time) (int, error) {
	res, err := s.execOnce(ctx, `DELETE FROM web_sessions WHERE expires_at <= ?`, clampNanos(at))
	if err != nil {
		return 0, fmt.Errorf("sqlite: delete expired sessions: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("sqlite: delete expired sessions: %w", err)
	}
	return int(n), nil
}

// CreateInvite stores i and sets i.ID and i.CreatedAt.
func (s *Store) CreateInvite(ctx context.Context, i *store.Invite) error {
	if i.Hash == "" || i.CreatedBy == "" || i.ExpiresAt.IsZero() {
		return fmt.Errorf("sqlite: create invite: %w invite: hash, creator and expiry are required", store.ErrInvalid)
	}
	if err := checkTimes(i.CreatedAt, i.ExpiresAt); err != nil {
		return fmt.Errorf("sqlite: create invite: %w", err)
	}
	created := orNow(i.CreatedAt)
	res, err := s.execOnce(ctx, `INSERT INTO web_invites (hash, created_by, note, created_at, expires_at) VALUES (?, ?, ?, ?, ?)`,
		i.Hash, i.CreatedBy, i.Note, nanos(created), nanos(i.ExpiresAt))
	if err != nil {
		return fmt.Errorf("sqlite: create invite: %w", mapErr(err))
	}
	id, err := res.LastInsertId()
	if err != nil {
		return fmt.Errorf("sqlite: create invite: %w", err)
	}
	i.ID, i.CreatedAt, i.ExpiresAt = id, created, i.ExpiresAt.UTC().Round(0)
	i.UsedBy, i.UsedAt = "", time.Time{}
	return nil
}

const inviteColumns = `id, hash, created_by, note, created_at, expires_at, used_by, used_at`

func scanInvite(row interface{ Scan(...any) error }) (store.Invite, error) {
	var i store.Invite
	var created, expires int64
	var used sql.NullInt64
	if err := row.Scan(&i.ID, &i.Hash, &i.CreatedBy, &i.Note, &created, &expires, &i.UsedBy, &used); err != nil {
		return store.Invite{}, err
	}
	i.CreatedAt, i.ExpiresAt, i.UsedAt = fromNanos(created), fromNanos(expires), fromNullNanos(used)
	return i, nil
}

// ListInvites returns every invite, newest first.
func (s *Store) ListInvites(ctx context.Context) ([]store.Invite, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+inviteColumns+` FROM web_invites ORDER BY created_at DESC, id DESC`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list invites: %w", err)
	}
	defer rows.Close()
	var out []store.Invite
	for rows.Next() {
		i, err := scanInvite(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: list invites: %w", err)
		}
		out = append(out, i)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list invites: %w", err)
	}
	return out, nil
}

// UseInvite marks an unused, unexpired invite as used, atomically.
func (s *Store) UseInvite(ctx context.Context, hash, userName string, at time.Time) (store.Invite, error) {
	if userName == "" {
		return store.Invite{}, fmt.Errorf("sqlite: use invite: %w invite: empty user name", store.ErrInvalid)
	}
	if err := checkTimes(at); err != nil {
		return store.Invite{}, fmt.Errorf("sqlite: use invite: %w", err)
	}
	at = orNow(at)
	var inv store.Invite
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE web_invites SET used_by = ?, used_at = ?
			WHERE hash = ? AND used_at IS NULL AND expires_at > ?`, userName, nanos(at), hash, nanos(at))
		if err != nil {
			return err
		}
		if err := oneRow(res, "unused invite"); err != nil {
			return err
		}
		inv, err = scanInvite(tx.QueryRowContext(ctx, `SELECT `+inviteColumns+` FROM web_invites WHERE hash = ?`, hash))
		return err
	})
	if err != nil {
		return store.Invite{}, fmt.Errorf("sqlite: use invite: %w", err)
	}
	return inv, nil
}

// DeleteInvite removes one invite.
func (s *Store) DeleteInvite(ctx context.Context, id int64) error {
	res, err := s.execOnce(ctx, `DELETE FROM web_invites WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("sqlite: delete invite #%d: %w", id, err)
	}
	if err := oneRow(res, fmt.Sprintf("invite #%d", id)); err != nil {
		return fmt.Errorf("sqlite: delete invite: %w", err)
	}
	return nil
}

// SetTOTP replaces the user's TOTP row.
func (s *Store) SetTOTP(ctx context.Context, t *store.TOTP) error {
	if len(t.Secret) == 0 {
		return fmt.Errorf("sqlite: set totp: %w totp: empty secret", store.ErrInvalid)
	}
	if err := checkTimes(t.CreatedAt); err != nil {
		return fmt.Errorf("sqlite: set totp: %w", err)
	}
	created := orNow(t.CreatedAt)
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		if err := exists(ctx, tx, `SELECT 1 FROM users WHERE id = ?`, t.UserID); err != nil {
			return notFound(err, fmt.Sprintf("user #%d", t.UserID))
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO web_totp (user_id, secret, enabled, last_step, created_at) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (user_id) DO UPDATE SET secret = excluded.secret, enabled = excluded.enabled,
				last_step = excluded.last_step, created_at = excluded.created_at`,
			t.UserID, t.Secret, boolInt(t.Enabled), t.LastStep, nanos(created))
		return mapErr(err)
	})
	if err != nil {
		return fmt.Errorf("sqlite: set totp of user #%d: %w", t.UserID, err)
	}
	t.CreatedAt = created
	return nil
}

// TOTPByUser returns the user's TOTP row.
func (s *Store) TOTPByUser(ctx context.Context, userID int64) (store.TOTP, error) {
	t := store.TOTP{UserID: userID}
	var enabled int
	var created int64
	err := s.db.QueryRowContext(ctx, `SELECT secret, enabled, last_step, created_at FROM web_totp WHERE user_id = ?`, userID).
		Scan(&t.Secret, &enabled, &t.LastStep, &created)
	if err != nil {
		return store.TOTP{}, fmt.Errorf("sqlite: totp of user #%d: %w", userID, notFound(err, "totp"))
	}
	t.Enabled, t.CreatedAt = enabled == 1, fromNanos(created)
	return t, nil
}

// UseTOTPStep records an accepted step, refusing one not after the last.
func (s *Store) UseTOTPStep(ctx context.Context, userID, step int64) error {
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		var last int64
		err := tx.QueryRowContext(ctx, `SELECT last_step FROM web_totp WHERE user_id = ?`, userID).Scan(&last)
		if err != nil {
			return notFound(err, "totp")
		}
		if step <= last {
			return fmt.Errorf("step %d is not after the last accepted step %d: %w", step, last, store.ErrConflict)
		}
		_, err = tx.ExecContext(ctx, `UPDATE web_totp SET last_step = ?, enabled = 1 WHERE user_id = ?`, step, userID)
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: use totp step of user #%d: %w", userID, err)
	}
	return nil
}

// DeleteTOTP removes the user's TOTP secret.
func (s *Store) DeleteTOTP(ctx context.Context, userID int64) error {
	if _, err := s.execOnce(ctx, `DELETE FROM web_totp WHERE user_id = ?`, userID); err != nil {
		return fmt.Errorf("sqlite: delete totp of user #%d: %w", userID, err)
	}
	return nil
}

// ListTokens returns the user's API tokens, oldest first.
func (s *Store) ListTokens(ctx context.Context, userID int64) ([]store.Token, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, user_id, hash, created_at, last_used FROM tokens WHERE user_id = ? ORDER BY created_at, id`, userID)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list tokens of user #%d: %w", userID, err)
	}
	defer rows.Close()
	var out []store.Token
	for rows.Next() {
		var t store.Token
		var created int64
		var used sql.NullInt64
		if err := rows.Scan(&t.ID, &t.UserID, &t.Hash, &created, &used); err != nil {
			return nil, fmt.Errorf("sqlite: list tokens of user #%d: %w", userID, err)
		}
		t.CreatedAt, t.LastUsed = fromNanos(created), fromNullNanos(used)
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list tokens of user #%d: %w", userID, err)
	}
	return out, nil
}

// DeleteToken removes one of the user's tokens.
func (s *Store) DeleteToken(ctx context.Context, userID, tokenID int64) error {
	res, err := s.execOnce(ctx, `DELETE FROM tokens WHERE id = ? AND user_id = ?`, tokenID, userID)
	if err != nil {
		return fmt.Errorf("sqlite: delete token #%d: %w", tokenID, err)
	}
	if err := oneRow(res, fmt.Sprintf("token #%d of user #%d", tokenID, userID)); err != nil {
		return fmt.Errorf("sqlite: delete token: %w", err)
	}
	return nil
}
