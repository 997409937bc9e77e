package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/cabalmail/cabalmail/internal/store"
)

const userColumns = `id, name, password_hash, admin, status, quota_bytes, created_at`

// scanner is what *sql.Row and *sql.Rows have in common.
type scanner interface {
	Scan(dest ...any) error
}

func scanUser(r scanner) (store.User, error) {
	var u store.User
	var admin int
	var created int64
	if err := r.Scan(&u.ID, &u.Name, &u.PasswordHash, &admin, &u.Status, &u.QuotaBytes, &created); err != nil {
		return store.User{}, err
	}
	u.Admin = admin != 0
	u.CreatedAt = fromNanos(created)
	return u, nil
}

// CreateUser inserts u and sets u.ID and u.CreatedAt. An empty Status means
// store.UserActive.
func (s *Store) CreateUser(ctx context.Context, u *store.User) error {
	if u.Status == "" {
		u.Status = store.UserActive
	}
	if err := store.CheckUser(*u); err != nil {
		return fmt.Errorf("sqlite: create user: %w", err)
	}
	if err := checkTimes(u.CreatedAt); err != nil {
		return fmt.Errorf("sqlite: create user %s: %w", u.Name, err)
	}
	created := orNow(u.CreatedAt)
	res, err := s.execOnce(ctx, `INSERT INTO users (name, password_hash, admin, status, quota_bytes, created_at)
		VALUES (?, ?, ?, ?, ?, ?)`,
		u.Name, u.PasswordHash, boolInt(u.Admin), string(u.Status), u.QuotaBytes, nanos(created))
	if err != nil {
		return fmt.Errorf("sqlite: create user %s: %w", u.Name, mapErr(err))
	}
	id, err := res.LastInsertId()
	if err != nil {
		return fmt.Errorf("sqlite: create user %s: %w", u.Name, err)
	}
	u.ID = id
	u.CreatedAt = created
	return nil
}

// UserByName returns the user called name.
func (s *Store) UserByName(ctx context.Context, name string) (store.User, error) {
	u, err := scanUser(s.queryRow(ctx, `SELECT `+userColumns+` FROM users WHERE name = ?`, name))
	if err != nil {
		return store.User{}, fmt.Errorf("sqlite: %w", notFound(err, "user "+name))
	}
	return u, nil
}

// UserByID returns the user with the given id.
func (s *Store) UserByID(ctx context.Context, id int64) (store.User, error) {
	u, err := scanUser(s.queryRow(ctx, `SELECT `+userColumns+` FROM users WHERE id = ?`, id))
	if err != nil {
		return store.User{}, fmt.Errorf("sqlite: %w", notFound(err, fmt.Sprintf("user #%d", id)))
	}
	return u, nil
}

// ListUsers returns every user, ordered by name.
func (s *Store) ListUsers(ctx context.Context) ([]store.User, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+userColumns+` FROM users ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list users: %w", err)
	}
	defer rows.Close()
	var users []store.User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: list users: %w", err)
		}
		users = append(users, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list users: %w", err)
	}
	return users, nil
}

// UpdateUser stores u's password hash, admin flag, status and quota. The
// name and creation time do not change.
func (s *Store) UpdateUser(ctx context.Context, u store.User) error {
	if err := store.CheckUserStatus(u.Status); err != nil {
		return fmt.Errorf("sqlite: update user #%d: %w", u.ID, err)
	}
	res, err := s.execOnce(ctx, `UPDATE users SET password_hash = ?, admin = ?, status = ?, quota_bytes = ? WHERE id = ?`,
		u.PasswordHash, boolInt(u.Admin), string(u.Status), u.QuotaBytes, u.ID)
	if err != nil {
		return fmt.Errorf("sqlite: update user #%d: %w", u.ID, mapErr(err))
	}
	return oneRow(res, fmt.Sprintf("sqlite: update user #%d", u.ID))
}

// DeleteUser removes the user with their holdings, grants and tokens, and
// the addresses nobody else holds, whose names it returns.
func (s *Store) DeleteUser(ctx context.Context, id int64) ([]string, error) {
	var revoked []string
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT a.address FROM addresses a
			JOIN holdings h ON h.address_id = a.id AND h.user_id = ?
			WHERE NOT EXISTS (SELECT 1 FROM holdings o WHERE o.address_id = a.id AND o.user_id <> ?)
			ORDER BY a.address`, id, id)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var a string
			if err := rows.Scan(&a); err != nil {
				return err
			}
			revoked = append(revoked, a)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		// Holdings, grants and tokens go by ON DELETE CASCADE.
		res, err := tx.ExecContext(ctx, `DELETE FROM users WHERE id = ?`, id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return store.ErrNotFound
		}
		for _, a := range revoked {
			if _, err := tx.ExecContext(ctx, `DELETE FROM addresses WHERE address = ?`, a); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: delete user #%d: %w", id, err)
	}
	return revoked, nil
}

// Grant lets the user create addresses on apex. Granting twice is not an
// error.
func (s *Store) Grant(ctx context.Context, userID int64, apex string) error {
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		if err := exists(ctx, tx, `SELECT 1 FROM users WHERE id = ?`, userID); err != nil {
			return notFound(err, fmt.Sprintf("user #%d", userID))
		}
		if err := exists(ctx, tx, `SELECT 1 FROM domains WHERE apex = ?`, apex); err != nil {
			return notFound(err, "domain "+apex)
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO grants (user_id, apex, created_at) VALUES (?, ?, ?)
			ON CONFLICT (user_id, apex) DO NOTHING`, userID, apex, nanos(now()))
		return mapErr(err)
	})
	if err != nil {
		return fmt.Errorf("sqlite: grant %s to user #%d: %w", apex, userID, err)
	}
	return nil
}

// Ungrant withdraws a grant. Withdrawing a grant that does not exist is not
// an error.
func (s *Store) Ungrant(ctx context.Context, userID int64, apex string) error {
	if _, err := s.execOnce(ctx, `DELETE FROM grants WHERE user_id = ? AND apex = ?`, userID, apex); err != nil {
		return fmt.Errorf("sqlite: ungrant %s from user #%d: %w", apex, userID, err)
	}
	return nil
}

// Grants returns the apexes granted to the user, sorted.
func (s *Store) Grants(ctx context.Context, userID int64) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT apex FROM grants WHERE user_id = ? ORDER BY apex`, userID)
	if err != nil {
		return nil, fmt.Errorf("sqlite: grants of user #%d: %w", userID, err)
	}
	defer rows.Close()
	var apexes []string
	for rows.Next() {
		var a string
		if err := rows.Scan(&a); err != nil {
			return nil, fmt.Errorf("sqlite: grants of user #%d: %w", userID, err)
		}
		apexes = append(apexes, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: grants of user #%d: %w", userID, err)
	}
	return apexes, nil
}

// HasGrant reports whether the user may create addresses on apex.
func (s *Store) HasGrant(ctx context.Context, userID int64, apex string) (bool, error) {
	var one int
	err := s.queryRow(ctx, `SELECT 1 FROM grants WHERE user_id = ? AND apex = ?`, userID, apex).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("sqlite: grant %s of user #%d: %w", apex, userID, err)
	}
	return true, nil
}

// exists returns sql.ErrNoRows if query finds no row.
func exists(ctx context.Context, tx *sql.Tx, query string, args ...any) error {
	var one int
	return tx.QueryRowContext(ctx, query, args...).Scan(&one)
}

// oneRow returns a wrapped store.ErrNotFound if res changed no row.
func oneRow(res sql.Result, what string) error {
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if n == 0 {
		return fmt.Errorf("%s: %w", what, store.ErrNotFound)
	}
	return nil
}
