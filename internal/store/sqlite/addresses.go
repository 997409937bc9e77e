package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cabalmail/cabalmail/internal/store"
)

const addressColumns = `a.id, a.address, a.local, a.subdomain, a.apex, a.state, a.created_at, a.changed_at`

func scanAddress(r scanner) (store.Address, error) {
	var a store.Address
	var created, changed int64
	if err := r.Scan(&a.ID, &a.Address, &a.Local, &a.Subdomain, &a.Apex, &a.State, &created, &changed); err != nil {
		return store.Address{}, err
	}
	a.CreatedAt = fromNanos(created)
	a.ChangedAt = fromNanos(changed)
	return a, nil
}

// CreateAddress inserts a and its holders in one transaction, and sets
// a.ID, the creation times and the holders' user names. An empty State
// means store.AddressActive. An address needs at least one holder.
func (s *Store) CreateAddress(ctx context.Context, a *store.Address) error {
	if a.State == "" {
		a.State = store.AddressActive
	}
	if err := store.CheckAddress(*a); err != nil {
		return fmt.Errorf("sqlite: create address: %w", err)
	}
	if len(a.Holders) == 0 {
		return fmt.Errorf("sqlite: create address %s: %w address: no holder", a.Address, store.ErrInvalid)
	}
	if err := checkTimes(a.CreatedAt, a.ChangedAt); err != nil {
		return fmt.Errorf("sqlite: create address %s: %w", a.Address, err)
	}
	created := orNow(a.CreatedAt)
	changed := created
	if !a.ChangedAt.IsZero() {
		changed = a.ChangedAt.UTC().Round(0)
	}
	holders := make([]store.Holding, len(a.Holders))
	var id int64
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		if err := exists(ctx, tx, `SELECT 1 FROM domains WHERE apex = ?`, a.Apex); err != nil {
			return notFound(err, "domain "+a.Apex)
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO addresses (address, local, subdomain, apex, state, created_at, changed_at)
			VALUES (?, ?, ?, ?, ?, ?, ?)`,
			a.Address, a.Local, a.Subdomain, a.Apex, string(a.State), nanos(created), nanos(changed))
		if err != nil {
			return mapErr(err)
		}
		if id, err = res.LastInsertId(); err != nil {
			return err
		}
		for i, h := range a.Holders {
			h, err := insertHolding(ctx, tx, id, h, created)
			if err != nil {
				return err
			}
			holders[i] = h
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sqlite: create address %s: %w", a.Address, err)
	}
	a.ID = id
	a.CreatedAt = created
	a.ChangedAt = changed
	a.Holders = holders
	return nil
}

// insertHolding adds h on the address with the given id and returns it as
// stored. An unset creation time becomes def.
func insertHolding(ctx context.Context, tx *sql.Tx, addressID int64, h store.Holding, def time.Time) (store.Holding, error) {
	if err := checkTimes(h.CreatedAt, h.LastReceived); err != nil {
		return store.Holding{}, err
	}
	if err := tx.QueryRowContext(ctx, `SELECT name FROM users WHERE id = ?`, h.UserID).Scan(&h.UserName); err != nil {
		return store.Holding{}, notFound(err, fmt.Sprintf("user #%d", h.UserID))
	}
	if h.CreatedAt.IsZero() {
		h.CreatedAt = def
	}
	h.CreatedAt = h.CreatedAt.UTC().Round(0)
	if !h.LastReceived.IsZero() {
		h.LastReceived = h.LastReceived.UTC().Round(0)
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO holdings (address_id, user_id, comment, favorite, created_at, received, last_received)
		VALUES (?, ?, ?, ?, ?, ?, ?)`,
		addressID, h.UserID, h.Comment, boolInt(h.Favorite), nanos(h.CreatedAt), h.Received, nullNanos(h.LastReceived))
	if err != nil {
		return store.Holding{}, mapErr(err)
	}
	return h, nil
}

// addressByNameQuery reads an address and its holders in one statement.
// Every RCPT runs it: one statement is its own consistent read (SQLite
// runs it in an implicit read transaction), so no BEGIN and COMMIT are
// parsed and executed around it, and it is prepared once per connection.
// The holdings come from a LEFT JOIN, so an address without holders still
// yields its row (with NULL holding columns); users are joined to the
// holdings only, as holdingsQuery does.
// addressByNameQuery finds the address by its unique index, then its
// holdings by their primary key and each holder by ID. (A nested
// "LEFT JOIN (holdings JOIN users)" made SQLite materialize the join of
// every holding with its user for each look-up: a scan of the whole
// holdings table per RCPT.) Holdings always have their user (foreign key,
// ON DELETE CASCADE), so the outer join of users loses nothing.
const addressByNameQuery = `SELECT ` + addressColumns + `,
		h.user_id, u.name, h.comment, h.favorite, h.created_at, h.received, h.last_received
	FROM addresses a
	LEFT JOIN holdings h ON h.address_id = a.id
	LEFT JOIN users u ON u.id = h.user_id
	WHERE a.address = ?
	ORDER BY h.created_at, u.name`

// AddressByName returns the address with its holders.
func (s *Store) AddressByName(ctx context.Context, address string) (store.Address, error) {
	a, err := s.addressByName(ctx, address)
	if err != nil {
		return store.Address{}, fmt.Errorf("sqlite: %w", err)
	}
	return a, nil
}

func (s *Store) addressByName(ctx context.Context, address string) (store.Address, error) {
	st, err := s.stmt(ctx, addressByNameQuery)
	if err != nil {
		return store.Address{}, err
	}
	rows, err := st.QueryContext(ctx, address)
	if err != nil {
		return store.Address{}, err
	}
	defer rows.Close()
	var a store.Address
	found := false
	for rows.Next() {
		var created, changed int64
		var userID, hCreated, received, last sql.NullInt64
		var userName, comment sql.NullString
		var favorite sql.NullInt64
		if err := rows.Scan(&a.ID, &a.Address, &a.Local, &a.Subdomain, &a.Apex, &a.State, &created, &changed,
			&userID, &userName, &comment, &favorite, &hCreated, &received, &last); err != nil {
			return store.Address{}, err
		}
		a.CreatedAt = fromNanos(created)
		a.ChangedAt = fromNanos(changed)
		found = true
		if !userID.Valid {
			continue // no holder
		}
		a.Holders = append(a.Holders, store.Holding{
			UserID:       userID.Int64,
			UserName:     userName.String,
			Comment:      comment.String,
			Favorite:     favorite.Int64 != 0,
			CreatedAt:    fromNanos(hCreated.Int64),
			Received:     received.Int64,
			LastReceived: fromNullNanos(last),
		})
	}
	if err := rows.Err(); err != nil {
		return store.Address{}, err
	}
	if !found {
		return store.Address{}, notFound(sql.ErrNoRows, "address "+address)
	}
	return a, nil
}

// ListAddresses returns the addresses f selects, ordered by address, each
// with all its holders.
func (s *Store) ListAddresses(ctx context.Context, f store.AddressFilter) ([]store.Address, error) {
	var where []string
	var args []any
	if f.UserID != 0 {
		where = append(where, `a.id IN (SELECT address_id FROM holdings WHERE user_id = ?)`)
		args = append(args, f.UserID)
	}
	if f.Apex != "" {
		where = append(where, `a.apex = ?`)
		args = append(args, f.Apex)
	}
	if f.Subdomain != "" {
		where = append(where, `a.subdomain = ?`)
		args = append(args, f.Subdomain)
	}
	cond := ""
	if len(where) > 0 {
		cond = " WHERE " + strings.Join(where, " AND ")
	}
	var list []store.Address
	err := s.readTx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT `+addressColumns+` FROM addresses a`+cond+` ORDER BY a.address`, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			a, err := scanAddress(rows)
			if err != nil {
				return err
			}
			list = append(list, a)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		if len(list) == 0 {
			return nil
		}
		hs, err := holdings(ctx, tx, `JOIN addresses a ON a.id = h.address_id`+cond, args...)
		if err != nil {
			return err
		}
		for i := range list {
			list[i].Holders = hs[list[i].ID]
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: list addresses: %w", err)
	}
	return list, nil
}

// holdings returns the holdings the clause selects, by address id, each
// address's in order of creation then user name.
func holdings(ctx context.Context, tx *sql.Tx, clause string, args ...any) (map[int64][]store.Holding, error) {
	rows, err := tx.QueryContext(ctx, holdingsQuery+clause+holdingsOrder, args...)
	if err != nil {
		return nil, err
	}
	return scanHoldings(rows)
}

const (
	holdingsQuery = `SELECT h.address_id, h.user_id, u.name, h.comment, h.favorite, h.created_at, h.received, h.last_received
		FROM holdings h JOIN users u ON u.id = h.user_id `
	holdingsOrder = `
		ORDER BY h.address_id, h.created_at, u.name`
)

// scanHoldings reads the rows of holdingsQuery, by address ID, and closes
// them.
func scanHoldings(rows *sql.Rows) (map[int64][]store.Holding, error) {
	defer rows.Close()
	m := make(map[int64][]store.Holding)
	for rows.Next() {
		var h store.Holding
		var addressID, created int64
		var favorite int
		var last sql.NullInt64
		if err := rows.Scan(&addressID, &h.UserID, &h.UserName, &h.Comment, &favorite, &created, &h.Received, &last); err != nil {
			return nil, err
		}
		h.Favorite = favorite != 0
		h.CreatedAt = fromNanos(created)
		h.LastReceived = fromNullNanos(last)
		m[addressID] = append(m[addressID], h)
	}
	return m, rows.Err()
}

// SetAddressState suspends or reinstates an address. ChangedAt moves only
// when the state actually changes.
func (s *Store) SetAddressState(ctx context.Context, address string, st store.AddressState) error {
	if err := store.CheckAddressState(st); err != nil {
		return fmt.Errorf("sqlite: set state of %s: %w", address, err)
	}
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		if err := exists(ctx, tx, `SELECT 1 FROM addresses WHERE address = ?`, address); err != nil {
			return notFound(err, "address "+address)
		}
		_, err := tx.ExecContext(ctx, `UPDATE addresses SET state = ?, changed_at = ? WHERE address = ? AND state <> ?`,
			string(st), nanos(now()), address, string(st))
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: set state of %s: %w", address, err)
	}
	return nil
}

// DeleteAddress removes the address and every holding.
func (s *Store) DeleteAddress(ctx context.Context, address string) error {
	res, err := s.execOnce(ctx, `DELETE FROM addresses WHERE address = ?`, address)
	if err != nil {
		return fmt.Errorf("sqlite: delete address %s: %w", address, err)
	}
	return oneRow(res, "sqlite: delete address "+address)
}

// AddHolder gives h.UserID a hold on the address.
func (s *Store) AddHolder(ctx context.Context, address string, h store.Holding) error {
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		var id int64
		if err := tx.QueryRowContext(ctx, `SELECT id FROM addresses WHERE address = ?`, address).Scan(&id); err != nil {
			return notFound(err, "address "+address)
		}
		_, err := insertHolding(ctx, tx, id, h, now())
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: add holder #%d to %s: %w", h.UserID, address, err)
	}
	return nil
}

// RemoveHolder drops one user's hold, and the address with it if nobody
// holds it any more.
func (s *Store) RemoveHolder(ctx context.Context, address string, userID int64) (bool, error) {
	var last bool
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		var id int64
		if err := tx.QueryRowContext(ctx, `SELECT id FROM addresses WHERE address = ?`, address).Scan(&id); err != nil {
			return notFound(err, "address "+address)
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM holdings WHERE address_id = ? AND user_id = ?`, id, userID)
		if err != nil {
			return err
		}
		if err := oneRow(res, fmt.Sprintf("holding of user #%d", userID)); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM holdings WHERE address_id = ?`, id).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return nil
		}
		last = true
		_, err = tx.ExecContext(ctx, `DELETE FROM addresses WHERE id = ?`, id)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("sqlite: remove holder #%d from %s: %w", userID, address, err)
	}
	return last, nil
}

// UpdateHolding stores h's comment and favorite flag for h.UserID's hold on
// the address.
func (s *Store) UpdateHolding(ctx context.Context, address string, h store.Holding) error {
	res, err := s.execOnce(ctx, `UPDATE holdings SET comment = ?, favorite = ?
		WHERE user_id = ? AND address_id = (SELECT id FROM addresses WHERE address = ?)`,
		h.Comment, boolInt(h.Favorite), h.UserID, address)
	if err != nil {
		return fmt.Errorf("sqlite: update holding of #%d on %s: %w", h.UserID, address, err)
	}
	return oneRow(res, fmt.Sprintf("sqlite: update holding of #%d on %s", h.UserID, address))
}

// CountReceived bumps the received counters of every holder of the address.
func (s *Store) CountReceived(ctx context.Context, address string, at time.Time) error {
	if err := checkTimes(at); err != nil {
		return fmt.Errorf("sqlite: count received on %s: %w", address, err)
	}
	at = orNow(at)
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		q := s.cached(tx)
		var id int64
		if err := q.QueryRowContext(ctx, `SELECT id FROM addresses WHERE address = ?`, address).Scan(&id); err != nil {
			return notFound(err, "address "+address)
		}
		// A late, out-of-order count must not move last_received back.
		_, err := q.ExecContext(ctx, `UPDATE holdings SET received = received + 1,
			last_received = CASE WHEN last_received IS NULL OR last_received < ?1 THEN ?1 ELSE last_received END
			WHERE address_id = ?2`, nanos(at), id)
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: count received on %s: %w", address, err)
	}
	return nil
}

// CountReceivedBatch applies counts in one transaction, skipping (and
// returning) addresses that no longer exist.
func (s *Store) CountReceivedBatch(ctx context.Context, counts []store.ReceivedCount) ([]string, error) {
	for i, c := range counts {
		if c.N < 1 {
			return nil, fmt.Errorf("sqlite: count received: %w count: #%d (%s) has N=%d", store.ErrInvalid, i, c.Address, c.N)
		}
		if err := checkTimes(c.At); err != nil {
			return nil, fmt.Errorf("sqlite: count received on %s: %w", c.Address, err)
		}
	}
	if len(counts) == 0 {
		return nil, nil
	}
	var unknown []string
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		unknown = unknown[:0]
		find, err := s.txStmt(ctx, tx, `SELECT id FROM addresses WHERE address = ?`)
		if err != nil {
			return err
		}
		bump, err := s.txStmt(ctx, tx, `UPDATE holdings SET received = received + ?1,
			last_received = CASE WHEN last_received IS NULL OR last_received < ?2 THEN ?2 ELSE last_received END
			WHERE address_id = ?3`)
		if err != nil {
			return err
		}
		for _, c := range counts {
			var id int64
			err := find.QueryRowContext(ctx, c.Address).Scan(&id)
			if errors.Is(err, sql.ErrNoRows) {
				unknown = append(unknown, c.Address)
				continue
			}
			if err != nil {
				return err
			}
			// A late, out-of-order count must not move last_received back.
			if _, err := bump.ExecContext(ctx, c.N, nanos(orNow(c.At)), id); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: count received: %w", err)
	}
	return unknown, nil
}
