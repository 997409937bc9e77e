package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"strings"

	"github.com/cabalmail/cabalmail/internal/store"
)

var _ store.Mailboxes = (*Store)(nil)

const mailboxColumns = `id, user_id, name, special_use, uidvalidity, uidnext, highest_modseq, keywords,
	messages, unseen, deleted, size, created_at`

func scanMailbox(r scanner) (store.Mailbox, error) {
	var m store.Mailbox
	var kw string
	var created int64
	var uidvalidity, uidnext, modseq int64
	if err := r.Scan(&m.ID, &m.UserID, &m.Name, &m.SpecialUse, &uidvalidity, &uidnext, &modseq, &kw,
		&m.Messages, &m.Unseen, &m.Deleted, &m.Size, &created); err != nil {
		return store.Mailbox{}, err
	}
	m.UIDValidity = uint32(uidvalidity)
	m.UIDNext = uint32(uidnext)
	m.HighestModSeq = uint64(modseq)
	m.Keywords = splitKeywords(kw)
	m.CreatedAt = fromNanos(created)
	return m, nil
}

// splitKeywords and joinKeywords convert a keyword list to its stored form:
// IMAP keywords are atoms, which never contain a space.
func splitKeywords(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, " ")
}

func joinKeywords(kw []string) string { return strings.Join(kw, " ") }

// CreateMailbox inserts m and sets its ID, UIDValidity (the ID), UIDNext,
// HighestModSeq and CreatedAt.
func (s *Store) CreateMailbox(ctx context.Context, m *store.Mailbox) error {
	if m.Name == "" {
		return fmt.Errorf("sqlite: create mailbox: %w: empty name", store.ErrInvalid)
	}
	created := orNow(m.CreatedAt)
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO mailboxes (user_id, name, special_use, uidvalidity, created_at)
			VALUES (?, ?, ?, 0, ?)`, m.UserID, m.Name, m.SpecialUse, nanos(created))
		if err != nil {
			return mapErr(err)
		}
		id, err := res.LastInsertId()
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE mailboxes SET uidvalidity = id WHERE id = ?`, id); err != nil {
			return err
		}
		m.ID = id
		return nil
	})
	if err != nil {
		return fmt.Errorf("sqlite: create mailbox %q: %w", m.Name, err)
	}
	m.UIDValidity = uint32(m.ID)
	m.UIDNext = 1
	m.HighestModSeq = 1
	m.CreatedAt = created
	m.Keywords = nil
	m.Messages, m.Unseen, m.Deleted, m.Size = 0, 0, 0, 0
	return nil
}

// MailboxByName returns the user's mailbox called name.
func (s *Store) MailboxByName(ctx context.Context, userID int64, name string) (store.Mailbox, error) {
	m, err := scanMailbox(s.queryRow(ctx, `SELECT `+mailboxColumns+` FROM mailboxes WHERE user_id = ? AND name = ?`, userID, name))
	if err != nil {
		return store.Mailbox{}, fmt.Errorf("sqlite: %w", notFound(err, fmt.Sprintf("mailbox %q", name)))
	}
	return m, nil
}

// MailboxByID returns the user's mailbox with that ID.
func (s *Store) MailboxByID(ctx context.Context, userID, id int64) (store.Mailbox, error) {
	m, err := mailboxByID(ctx, storeStmts{s}, userID, id)
	if err != nil {
		return store.Mailbox{}, fmt.Errorf("sqlite: %w", err)
	}
	return m, nil
}

// querier is what *sql.DB and *sql.Tx have in common.
type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

func mailboxByID(ctx context.Context, q querier, userID, id int64) (store.Mailbox, error) {
	m, err := scanMailbox(q.QueryRowContext(ctx, `SELECT `+mailboxColumns+` FROM mailboxes WHERE id = ? AND user_id = ?`, id, userID))
	if err != nil {
		return store.Mailbox{}, notFound(err, fmt.Sprintf("mailbox %d", id))
	}
	return m, nil
}

// ListMailboxes returns the user's mailboxes ordered by name.
func (s *Store) ListMailboxes(ctx context.Context, userID int64) ([]store.Mailbox, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+mailboxColumns+` FROM mailboxes WHERE user_id = ? ORDER BY name`, userID)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list mailboxes: %w", err)
	}
	defer rows.Close()
	var out []store.Mailbox
	for rows.Next() {
		m, err := scanMailbox(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: list mailboxes: %w", err)
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list mailboxes: %w", err)
	}
	return out, nil
}

// DeleteMailbox removes the mailbox; messages and tombstones go by cascade
// and the trigger messages_release lists unreferenced bodies as garbage.
func (s *Store) DeleteMailbox(ctx context.Context, userID, id int64) error {
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM mailboxes WHERE id = ? AND user_id = ?`, id, userID)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return fmt.Errorf("mailbox %d: %w", id, store.ErrNotFound)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sqlite: delete mailbox: %w", err)
	}
	return nil
}

// RenameMailbox renames the mailbox and every mailbox below it.
func (s *Store) RenameMailbox(ctx context.Context, userID, id int64, newName string) error {
	if newName == "" {
		return fmt.Errorf("sqlite: rename mailbox: %w: empty name", store.ErrInvalid)
	}
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		m, err := mailboxByID(ctx, tx, userID, id)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE mailboxes SET name = ? WHERE id = ?`, newName, id); err != nil {
			return mapErr(err)
		}
		// Children: every name starting with "old/". substr avoids LIKE's
		// wildcards in names.
		prefix := m.Name + "/"
		_, err = tx.ExecContext(ctx, `UPDATE mailboxes SET name = ? || substr(name, ?)
			WHERE user_id = ? AND substr(name, 1, ?) = ?`,
			newName+"/", len([]rune(prefix))+1, userID, len([]rune(prefix)), prefix)
		return mapErr(err)
	})
	if err != nil {
		return fmt.Errorf("sqlite: rename mailbox %d to %q: %w", id, newName, err)
	}
	return nil
}

// MoveAllMessages moves every message of from into the empty mailbox to,
// keeping UIDs, flags and mod-sequences; from keeps its UIDNEXT and records
// tombstones at a new mod-sequence.
func (s *Store) MoveAllMessages(ctx context.Context, userID, from, to int64) error {
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		src, err := mailboxByID(ctx, tx, userID, from)
		if err != nil {
			return err
		}
		dst, err := mailboxByID(ctx, tx, userID, to)
		if err != nil {
			return err
		}
		if dst.Messages != 0 || dst.UIDNext != 1 {
			return fmt.Errorf("mailbox %d is not new: %w", to, store.ErrConflict)
		}
		modseq := src.HighestModSeq + 1
		if _, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO expunged (mailbox_id, uid, modseq)
			SELECT ?, uid, ? FROM messages WHERE mailbox_id = ?`, from, int64(modseq), from); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE messages SET mailbox_id = ? WHERE mailbox_id = ?`, to, from); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE mailboxes SET uidnext = ?, highest_modseq = ?, keywords = ?,
			messages = ?, unseen = ?, deleted = ?, size = ? WHERE id = ?`,
			int64(src.UIDNext), int64(src.HighestModSeq), joinKeywords(src.Keywords),
			src.Messages, src.Unseen, src.Deleted, src.Size, to); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE mailboxes SET highest_modseq = ?, messages = 0, unseen = 0, deleted = 0, size = 0
			WHERE id = ?`, int64(modseq), from)
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: move messages of mailbox %d to %d: %w", from, to, err)
	}
	return nil
}

// Subscribe records a subscription; it is idempotent.
func (s *Store) Subscribe(ctx context.Context, userID int64, name string) error {
	if _, err := s.execOnce(ctx, `INSERT OR IGNORE INTO subscriptions (user_id, name) VALUES (?, ?)`, userID, name); err != nil {
		return fmt.Errorf("sqlite: subscribe %q: %w", name, mapErr(err))
	}
	return nil
}

// Unsubscribe drops a subscription; it is idempotent.
func (s *Store) Unsubscribe(ctx context.Context, userID int64, name string) error {
	if _, err := s.execOnce(ctx, `DELETE FROM subscriptions WHERE user_id = ? AND name = ?`, userID, name); err != nil {
		return fmt.Errorf("sqlite: unsubscribe %q: %w", name, err)
	}
	return nil
}

// Subscriptions returns the user's subscribed names in order.
func (s *Store) Subscriptions(ctx context.Context, userID int64) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT name FROM subscriptions WHERE user_id = ? ORDER BY name`, userID)
	if err != nil {
		return nil, fmt.Errorf("sqlite: subscriptions: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, fmt.Errorf("sqlite: subscriptions: %w", err)
		}
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: subscriptions: %w", err)
	}
	return out, nil
}

// UsageBytes is the total size of the user's messages.
func (s *Store) UsageBytes(ctx context.Context, userID int64) (int64, error) {
	var n int64
	if err := s.queryRow(ctx, `SELECT COALESCE(SUM(size), 0) FROM mailboxes WHERE user_id = ?`, userID).Scan(&n); err != nil {
		return 0, fmt.Errorf("sqlite: usage: %w", err)
	}
	return n, nil
}

// mergeKeywords returns the union of have and add, keeping have's order
// and spelling (keywords compare case-insensitively), and whether it grew.
func mergeKeywords(have, add []string) ([]string, bool) {
	grew := false
	for _, k := range add {
		found := false
		for _, h := range have {
			if strings.EqualFold(h, k) {
				found = true
				break
			}
		}
		if !found {
			have = append(have, k)
			grew = true
		}
	}
	return have, grew
}

// uidRuns splits ascending uids into runs of consecutive values, so a set
// such as 1:* is read with one range query.
func uidRuns(uids []uint32) [][2]uint32 {
	var runs [][2]uint32
	for i := 0; i < len(uids); {
		j := i
		for j+1 < len(uids) && uids[j+1] == uids[j]+1 {
			j++
		}
		runs = append(runs, [2]uint32{uids[i], uids[j]})
		i = j + 1
	}
	return runs
}

// checkUIDs refuses a UID list that is not strictly ascending, which every
// method taking one relies on.
func checkUIDs(uids []uint32) error {
	if !sort.SliceIsSorted(uids, func(i, j int) bool { return uids[i] < uids[j] }) {
		return fmt.Errorf("%w: UIDs not in ascending order", store.ErrInvalid)
	}
	for i := 1; i < len(uids); i++ {
		if uids[i] == uids[i-1] {
			return fmt.Errorf("%w: duplicate UID %d", store.ErrInvalid, uids[i])
		}
	}
	return nil
}
