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

// mailboxState is a mailbox row being changed inside a write transaction;
// it is written back once at the end.
type mailboxState struct {
	store.Mailbox
	modseq  uint64 // the mod-sequence of this transaction's changes, 0 until needed
	changed bool
}

// bump returns the mod-sequence this transaction gives its changes to the
// mailbox: one more than the highest, the same for every change.
func (m *mailboxState) bump() uint64 {
	if m.modseq == 0 {
		m.modseq = m.HighestModSeq + 1
		m.HighestModSeq = m.modseq
	}
	m.changed = true
	return m.modseq
}

func (m *mailboxState) save(ctx context.Context, q querier) error {
	if !m.changed {
		return nil
	}
	_, err := q.ExecContext(ctx, `UPDATE mailboxes SET uidnext = ?, highest_modseq = ?, keywords = ?,
		messages = ?, unseen = ?, deleted = ?, size = ? WHERE id = ?`,
		int64(m.UIDNext), int64(m.HighestModSeq), joinKeywords(m.Keywords),
		m.Messages, m.Unseen, m.Deleted, m.Size, m.ID)
	return err
}

// count adds (sign 1) or removes (sign -1) a message to the counters.
func (m *mailboxState) count(sign int64, flags store.SystemFlags, size int64) {
	m.Messages += sign
	m.Size += sign * size
	if flags&store.FlagSeen == 0 {
		m.Unseen += sign
	}
	if flags&store.FlagDeleted != 0 {
		m.Deleted += sign
	}
	m.changed = true
}

func usage(ctx context.Context, q querier, userID int64) (int64, error) {
	var n int64
	err := q.QueryRowContext(ctx, `SELECT COALESCE(SUM(size), 0) FROM mailboxes WHERE user_id = ?`, userID).Scan(&n)
	return n, err
}

// AddMessages adds a batch of messages in one transaction (one fsync for
// all: the group commit of internal/mailbox).
func (s *Store) AddMessages(ctx context.Context, msgs []store.NewMessage) ([]store.Added, error) {
	out := make([]store.Added, len(msgs))
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		boxes := map[int64]*mailboxState{}
		base := map[int64]int64{}     // user ID -> bytes stored before this batch, read when needed
		added := map[int64]int64{}    // user ID -> bytes added by this batch so far
		dataIDs := map[string]int64{} // blob key -> message_data id within the batch
		stmts := s.cached(tx)
		for i, m := range msgs {
			mb, ok := boxes[m.MailboxID]
			if !ok {
				row, err := mailboxByID(ctx, stmts, m.UserID, m.MailboxID)
				if errors.Is(err, store.ErrNotFound) {
					out[i].Err = fmt.Errorf("sqlite: add message: %w", err)
					continue
				} else if err != nil {
					return err
				}
				mb = &mailboxState{Mailbox: row}
				boxes[m.MailboxID] = mb
			}
			if mb.UserID != m.UserID {
				out[i].Err = fmt.Errorf("sqlite: add message: mailbox %d: %w", m.MailboxID, store.ErrNotFound)
				continue
			}
			if m.QuotaLimit > 0 {
				u, ok := base[m.UserID]
				if !ok {
					var err error
					if u, err = usage(ctx, stmts, m.UserID); err != nil {
						return err
					}
					base[m.UserID] = u
				}
				u += added[m.UserID]
				if u+m.Size > m.QuotaLimit {
					out[i].Err = fmt.Errorf("sqlite: add message: %d+%d bytes > %d: %w", u, m.Size, m.QuotaLimit, store.ErrOverQuota)
					continue
				}
			}
			if mb.UIDNext == 0 || mb.UIDNext == ^uint32(0) {
				out[i].Err = fmt.Errorf("sqlite: add message: mailbox %d has no UIDs left: %w", m.MailboxID, store.ErrConflict)
				continue
			}
			dataID, ok := dataIDs[m.BlobKey]
			if !ok {
				res, err := stmts.ExecContext(ctx, `INSERT INTO message_data (blob_key, envelope, structure, header, search)
					VALUES (?, ?, ?, ?, ?)`, m.BlobKey, nonNil(m.Envelope), nonNil(m.Structure), nonNil(m.Header), nonNil(m.Search))
				if err != nil {
					return err
				}
				if dataID, err = res.LastInsertId(); err != nil {
					return err
				}
				dataIDs[m.BlobKey] = dataID
				if m.Filter != nil {
					if _, err := stmts.ExecContext(ctx, `INSERT INTO message_filters (data_id, filter) VALUES (?, ?)`, dataID, m.Filter); err != nil {
						return err
					}
				}
				// A key listed as garbage is alive again.
				if _, err := stmts.ExecContext(ctx, `DELETE FROM blob_garbage WHERE key = ?`, m.BlobKey); err != nil {
					return err
				}
			}
			uid := mb.UIDNext
			added[m.UserID] += m.Size
			modseq := mb.bump()
			if _, err := stmts.ExecContext(ctx, `INSERT INTO messages (mailbox_id, uid, modseq, flags, keywords, size,
				internal_date, sent_date, data_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
				m.MailboxID, int64(uid), int64(modseq), int(m.Flags), joinKeywords(m.Keywords), m.Size,
				nanos(m.InternalDate), nullNanos(m.SentDate), dataID); err != nil {
				return err
			}
			mb.UIDNext = uid + 1
			mb.count(1, m.Flags, m.Size)
			mb.Keywords, _ = mergeKeywords(mb.Keywords, m.Keywords)
			out[i] = store.Added{UID: uid, ModSeq: modseq, UIDValidity: mb.UIDValidity}
		}
		for _, mb := range boxes {
			if err := mb.save(ctx, stmts); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: add messages: %w", err)
	}
	return out, nil
}

func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

const metaColumns = `uid, modseq, flags, keywords, size, internal_date, sent_date`

func scanMeta(r scanner) (store.MessageMeta, error) {
	var m store.MessageMeta
	var uid, modseq, internal int64
	var flags int
	var kw string
	var sent sql.NullInt64
	if err := r.Scan(&uid, &modseq, &flags, &kw, &m.Size, &internal, &sent); err != nil {
		return m, err
	}
	m.UID = uint32(uid)
	m.ModSeq = uint64(modseq)
	m.Flags = store.SystemFlags(flags)
	m.Keywords = splitKeywords(kw)
	m.InternalDate = fromNanos(internal)
	m.SentDate = fromNullNanos(sent)
	return m, nil
}

// MessageChanges reads, in one snapshot, the mailbox and its messages
// changed or expunged after since.
func (s *Store) MessageChanges(ctx context.Context, userID, mailboxID int64, since uint64) (store.MailboxChanges, error) {
	var c store.MailboxChanges
	err := s.readTx(ctx, func(tx *sql.Tx) error {
		q := s.cached(tx)
		var err error
		if c.Mailbox, err = mailboxByID(ctx, q, userID, mailboxID); err != nil {
			return err
		}
		var rows *sql.Rows
		if since == 0 {
			c.Changed = make([]store.MessageMeta, 0, c.Mailbox.Messages)
			rows, err = q.QueryContext(ctx, `SELECT `+metaColumns+` FROM messages WHERE mailbox_id = ? ORDER BY uid`, mailboxID)
		} else {
			rows, err = q.QueryContext(ctx, `SELECT `+metaColumns+` FROM messages INDEXED BY messages_modseq
				WHERE mailbox_id = ? AND modseq > ? ORDER BY uid`, mailboxID, int64(since))
		}
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			m, err := scanMeta(rows)
			if err != nil {
				return err
			}
			c.Changed = append(c.Changed, m)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		if since > 0 {
			c.Expunged, err = expunged(ctx, q, mailboxID, since)
		}
		return err
	})
	if err != nil {
		return store.MailboxChanges{}, fmt.Errorf("sqlite: changes of mailbox %d: %w", mailboxID, err)
	}
	return c, nil
}

func expunged(ctx context.Context, q querier, mailboxID int64, since uint64) ([]store.Tombstone, error) {
	rows, err := q.QueryContext(ctx, `SELECT uid, modseq FROM expunged WHERE mailbox_id = ? AND modseq > ? ORDER BY uid`,
		mailboxID, int64(since))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.Tombstone
	for rows.Next() {
		var uid, modseq int64
		if err := rows.Scan(&uid, &modseq); err != nil {
			return nil, err
		}
		out = append(out, store.Tombstone{UID: uint32(uid), ModSeq: uint64(modseq)})
	}
	return out, rows.Err()
}

// Expunged returns the tombstones of the mailbox after since.
func (s *Store) Expunged(ctx context.Context, userID, mailboxID int64, since uint64) ([]store.Tombstone, error) {
	var out []store.Tombstone
	err := s.readTx(ctx, func(tx *sql.Tx) error {
		q := s.cached(tx)
		if _, err := mailboxByID(ctx, q, userID, mailboxID); err != nil {
			return err
		}
		var err error
		out, err = expunged(ctx, q, mailboxID, since)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: expunged of mailbox %d: %w", mailboxID, err)
	}
	return out, nil
}

// maxRuns is the number of UID runs above which forUIDs reads the whole
// span of a dense set at once and skips the rows not asked for, rather than
// run one query per run.
const maxRuns = 32

// forUIDs runs query (which must select the UID first and end with
// "uid BETWEEN ? AND ?", taking args before those two) over uids, or over
// all UIDs when uids is nil, and calls fn for each row of a UID in uids.
func forUIDs(ctx context.Context, q querier, query string, args []any, uids []uint32, fn func(*sql.Rows) error) error {
	runs := [][2]uint32{{0, ^uint32(0)}}
	var sparse []uint32 // set when reading the whole span of a sparse set
	if uids != nil {
		if err := checkUIDs(uids); err != nil {
			return err
		}
		runs = uidRuns(uids)
		// Read the span at once when it is short or dense enough that
		// skipping rows costs less than a query per run.
		if span := int64(uids[len(uids)-1]) - int64(uids[0]) + 1; len(runs) > maxRuns && span <= 8*int64(len(uids)) {
			sparse = uids
			runs = [][2]uint32{{uids[0], uids[len(uids)-1]}}
		}
	}
	for _, r := range runs {
		rows, err := q.QueryContext(ctx, query, append(args[:len(args):len(args)], int64(r[0]), int64(r[1]))...)
		if err != nil {
			return err
		}
		if err := eachRow(rows, sparse, fn); err != nil {
			rows.Close()
			return err
		}
		if err := rows.Close(); err != nil {
			return err
		}
	}
	return nil
}

// eachRow calls fn for each row, or, if want is not nil, for the rows whose
// first column is a UID in want (ascending).
func eachRow(rows *sql.Rows, want []uint32, fn func(*sql.Rows) error) error {
	var dest []any
	var uid int64
	if want != nil {
		cols, err := rows.Columns()
		if err != nil {
			return err
		}
		dest = make([]any, len(cols))
		dest[0] = &uid
		for i := 1; i < len(dest); i++ {
			dest[i] = new(any)
		}
	}
	j := 0
	for rows.Next() {
		if want != nil {
			if err := rows.Scan(dest...); err != nil {
				return err
			}
			for j < len(want) && int64(want[j]) < uid {
				j++
			}
			if j == len(want) || int64(want[j]) != uid {
				continue
			}
		}
		if err := fn(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

// ScanMessageData calls fn with the asked columns of each message of uids.
func (s *Store) ScanMessageData(ctx context.Context, userID, mailboxID int64, uids []uint32, data store.MessageData, fn func(store.MessageRow) error) error {
	cols := []string{"m.uid"}
	type col struct {
		flag store.MessageData
		name string
	}
	for _, c := range []col{
		{store.DataBlobKey, "d.blob_key"}, {store.DataEnvelope, "d.envelope"}, {store.DataStructure, "d.structure"},
		{store.DataHeader, "d.header"}, {store.DataSearch, "d.search"}, {store.DataFilter, "f.filter"},
	} {
		if data&c.flag != 0 {
			cols = append(cols, c.name)
		}
	}
	// Join only the tables asked for: message_data rows are wide, and a
	// search that wants the filters alone should not read them.
	from := `messages m`
	if data&^store.DataFilter != 0 {
		from += ` JOIN message_data d ON d.id = m.data_id`
	}
	if data&store.DataFilter != 0 {
		from += ` LEFT JOIN message_filters f ON f.data_id = m.data_id`
	}
	query := `SELECT ` + strings.Join(cols, ", ") + ` FROM ` + from + `
		WHERE m.mailbox_id = ? AND m.uid BETWEEN ? AND ? ORDER BY m.uid`
	err := s.readTx(ctx, func(tx *sql.Tx) error {
		// query is one of a bounded set (a few flags choose its columns).
		q := s.cached(tx)
		if _, err := mailboxByID(ctx, q, userID, mailboxID); err != nil {
			return err
		}
		return forUIDs(ctx, q, query, []any{mailboxID}, uids, func(rows *sql.Rows) error {
			var r store.MessageRow
			var uid int64
			dest := []any{&uid}
			if data&store.DataBlobKey != 0 {
				dest = append(dest, &r.BlobKey)
			}
			if data&store.DataEnvelope != 0 {
				dest = append(dest, &r.Envelope)
			}
			if data&store.DataStructure != 0 {
				dest = append(dest, &r.Structure)
			}
			if data&store.DataHeader != 0 {
				dest = append(dest, &r.Header)
			}
			if data&store.DataSearch != 0 {
				dest = append(dest, &r.Search)
			}
			if data&store.DataFilter != 0 {
				dest = append(dest, &r.Filter)
			}
			if err := rows.Scan(dest...); err != nil {
				return err
			}
			r.UID = uint32(uid)
			return fn(r)
		})
	})
	if err != nil {
		return fmt.Errorf("sqlite: read messages of mailbox %d: %w", mailboxID, err)
	}
	return nil
}

// applyFlags computes a message's flags after a STORE.
func applyFlags(op int, flags store.SystemFlags, kw []string, uf store.SystemFlags, ukw []string) (store.SystemFlags, []string) {
	switch op {
	case 0:
		merged, _ := mergeKeywords(append([]string(nil), kw...), ukw)
		return flags | uf, merged
	case 1:
		var out []string
		for _, k := range kw {
			drop := false
			for _, r := range ukw {
				if strings.EqualFold(k, r) {
					drop = true
					break
				}
			}
			if !drop {
				out = append(out, k)
			}
		}
		return flags &^ uf, out
	default:
		out, _ := mergeKeywords(nil, ukw)
		return uf, out
	}
}

func sameKeywords(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for _, k := range a {
		found := false
		for _, l := range b {
			if strings.EqualFold(k, l) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// UpdateFlags applies a STORE to the messages of u.UIDs in one transaction.
// Messages whose flags do not change keep their mod-sequence.
func (s *Store) UpdateFlags(ctx context.Context, userID, mailboxID int64, u store.FlagUpdate) (store.FlagResult, error) {
	if u.Op < 0 || u.Op > 2 {
		return store.FlagResult{}, fmt.Errorf("sqlite: update flags: %w: operation %d", store.ErrInvalid, u.Op)
	}
	var res store.FlagResult
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		q := s.cached(tx)
		row, err := mailboxByID(ctx, q, userID, mailboxID)
		if err != nil {
			return err
		}
		mb := &mailboxState{Mailbox: row}
		var cur []store.MessageMeta
		err = forUIDs(ctx, q, `SELECT `+metaColumns+` FROM messages WHERE mailbox_id = ? AND uid BETWEEN ? AND ?`,
			[]any{mailboxID}, u.UIDs, func(rows *sql.Rows) error {
				m, err := scanMeta(rows)
				if err != nil {
					return err
				}
				cur = append(cur, m)
				return nil
			})
		if err != nil {
			return err
		}
		if u.UIDs != nil {
			cur = onlyUIDs(cur, u.UIDs)
		}
		for _, m := range cur {
			if u.UnchangedSince > 0 && m.ModSeq > u.UnchangedSince {
				res.Modified = append(res.Modified, m.UID)
				continue
			}
			flags, kw := applyFlags(u.Op, m.Flags, m.Keywords, u.Flags, u.Keywords)
			if flags == m.Flags && sameKeywords(kw, m.Keywords) {
				continue
			}
			modseq := mb.bump()
			if _, err := q.ExecContext(ctx, `UPDATE messages SET flags = ?, keywords = ?, modseq = ?
				WHERE mailbox_id = ? AND uid = ?`, int(flags), joinKeywords(kw), int64(modseq), mailboxID, int64(m.UID)); err != nil {
				return err
			}
			mb.count(-1, m.Flags, m.Size)
			mb.count(1, flags, m.Size)
			mb.Keywords, _ = mergeKeywords(mb.Keywords, kw)
			m.Flags, m.Keywords, m.ModSeq = flags, kw, modseq
			res.Updated = append(res.Updated, m)
		}
		if err := mb.save(ctx, q); err != nil {
			return err
		}
		res.Mailbox = mb.Mailbox
		return nil
	})
	if err != nil {
		return store.FlagResult{}, fmt.Errorf("sqlite: update flags in mailbox %d: %w", mailboxID, err)
	}
	return res, nil
}

// onlyUIDs keeps the rows whose UID is in uids (both ascending): a run
// query returns exactly its run, so this only guards against surprises.
func onlyUIDs(ms []store.MessageMeta, uids []uint32) []store.MessageMeta {
	out := ms[:0]
	j := 0
	for _, m := range ms {
		for j < len(uids) && uids[j] < m.UID {
			j++
		}
		if j < len(uids) && uids[j] == m.UID {
			out = append(out, m)
		}
	}
	return out
}

// ExpungeMessages removes the \Deleted messages among uids (nil: all).
func (s *Store) ExpungeMessages(ctx context.Context, userID, mailboxID int64, uids []uint32) ([]uint32, error) {
	var out []uint32
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		q := s.cached(tx)
		row, err := mailboxByID(ctx, q, userID, mailboxID)
		if err != nil {
			return err
		}
		mb := &mailboxState{Mailbox: row}
		var gone []store.MessageMeta
		err = forUIDs(ctx, q, `SELECT `+metaColumns+` FROM messages WHERE mailbox_id = ? AND flags & ? != 0 AND uid BETWEEN ? AND ?`,
			[]any{mailboxID, int(store.FlagDeleted)}, uids, func(rows *sql.Rows) error {
				m, err := scanMeta(rows)
				if err != nil {
					return err
				}
				gone = append(gone, m)
				return nil
			})
		if err != nil {
			return err
		}
		if len(gone) == 0 {
			return nil
		}
		modseq := mb.bump()
		for _, m := range gone {
			if err := expungeOne(ctx, q, mailboxID, m.UID, modseq); err != nil {
				return err
			}
			mb.count(-1, m.Flags, m.Size)
			out = append(out, m.UID)
		}
		return mb.save(ctx, q)
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: expunge in mailbox %d: %w", mailboxID, err)
	}
	return out, nil
}

func expungeOne(ctx context.Context, q querier, mailboxID int64, uid uint32, modseq uint64) error {
	if _, err := q.ExecContext(ctx, `DELETE FROM messages WHERE mailbox_id = ? AND uid = ?`, mailboxID, int64(uid)); err != nil {
		return err
	}
	_, err := q.ExecContext(ctx, `INSERT OR REPLACE INTO expunged (mailbox_id, uid, modseq) VALUES (?, ?, ?)`,
		mailboxID, int64(uid), int64(modseq))
	return err
}

// CopyMessages copies or moves messages between two of the user's
// mailboxes in one transaction. The copies share the source's body.
func (s *Store) CopyMessages(ctx context.Context, userID, from int64, uids []uint32, to int64, move bool, quotaLimit int64) (src, dst []uint32, err error) {
	if uids == nil {
		return nil, nil, fmt.Errorf("sqlite: copy messages: %w: no UIDs", store.ErrInvalid)
	}
	err = s.writeTx(ctx, func(tx *sql.Tx) error {
		q := s.cached(tx)
		srow, err := mailboxByID(ctx, q, userID, from)
		if err != nil {
			return err
		}
		drow, err := mailboxByID(ctx, q, userID, to)
		if err != nil {
			return err
		}
		if from == to && move {
			return fmt.Errorf("%w: move into the same mailbox", store.ErrInvalid)
		}
		sm := &mailboxState{Mailbox: srow}
		dm := &mailboxState{Mailbox: drow}
		if from == to {
			dm = sm
		}
		type msg struct {
			store.MessageMeta
			dataID int64
		}
		var ms []msg
		err = forUIDs(ctx, q, `SELECT `+metaColumns+`, data_id FROM messages WHERE mailbox_id = ? AND uid BETWEEN ? AND ?`,
			[]any{from}, uids, func(rows *sql.Rows) error {
				var m msg
				var uid, modseq, internal int64
				var flags int
				var kw string
				var sent sql.NullInt64
				if err := rows.Scan(&uid, &modseq, &flags, &kw, &m.Size, &internal, &sent, &m.dataID); err != nil {
					return err
				}
				m.UID, m.ModSeq, m.Flags = uint32(uid), uint64(modseq), store.SystemFlags(flags)
				m.Keywords, m.InternalDate, m.SentDate = splitKeywords(kw), fromNanos(internal), fromNullNanos(sent)
				ms = append(ms, m)
				return nil
			})
		if err != nil {
			return err
		}
		if len(ms) == 0 {
			return nil
		}
		if quotaLimit > 0 && !move {
			var total int64
			for _, m := range ms {
				total += m.Size
			}
			u, err := usage(ctx, q, userID)
			if err != nil {
				return err
			}
			if u+total > quotaLimit {
				return fmt.Errorf("%d+%d bytes > %d: %w", u, total, quotaLimit, store.ErrOverQuota)
			}
		}
		if uint64(dm.UIDNext)+uint64(len(ms)) >= 1<<32-1 {
			return fmt.Errorf("mailbox %d has no UIDs left: %w", to, store.ErrConflict)
		}
		dmodseq := dm.bump()
		for _, m := range ms {
			uid := dm.UIDNext
			if _, err := q.ExecContext(ctx, `INSERT INTO messages (mailbox_id, uid, modseq, flags, keywords, size,
				internal_date, sent_date, data_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
				to, int64(uid), int64(dmodseq), int(m.Flags), joinKeywords(m.Keywords), m.Size,
				nanos(m.InternalDate), nullNanos(m.SentDate), m.dataID); err != nil {
				return err
			}
			dm.UIDNext++
			dm.count(1, m.Flags, m.Size)
			dm.Keywords, _ = mergeKeywords(dm.Keywords, m.Keywords)
			src = append(src, m.UID)
			dst = append(dst, uid)
		}
		if move {
			smodseq := sm.bump()
			for _, m := range ms {
				if err := expungeOne(ctx, q, from, m.UID, smodseq); err != nil {
					return err
				}
				sm.count(-1, m.Flags, m.Size)
			}
		}
		if err := dm.save(ctx, q); err != nil {
			return err
		}
		if dm != sm {
			return sm.save(ctx, q)
		}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("sqlite: copy messages from mailbox %d to %d: %w", from, to, err)
	}
	return src, dst, nil
}

// BlobGarbage lists up to limit unreferenced blobs listed before before.
func (s *Store) BlobGarbage(ctx context.Context, before time.Time, limit int) ([]store.Garbage, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT key, created_at FROM blob_garbage WHERE created_at < ? ORDER BY created_at LIMIT ?`,
		nanos(before), limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite: blob garbage: %w", err)
	}
	defer rows.Close()
	var out []store.Garbage
	for rows.Next() {
		var g store.Garbage
		var at int64
		if err := rows.Scan(&g.Key, &at); err != nil {
			return nil, fmt.Errorf("sqlite: blob garbage: %w", err)
		}
		g.CreatedAt = fromNanos(at)
		out = append(out, g)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: blob garbage: %w", err)
	}
	return out, nil
}

// ForgetGarbage removes keys from the garbage list.
func (s *Store) ForgetGarbage(ctx context.Context, keys []string) error {
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		q := s.cached(tx)
		for _, k := range keys {
			if _, err := q.ExecContext(ctx, `DELETE FROM blob_garbage WHERE key = ?`, k); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sqlite: forget garbage: %w", err)
	}
	return nil
}

// BlobReferenced reports whether a message references key.
func (s *Store) BlobReferenced(ctx context.Context, key string) (bool, error) {
	var n int
	err := s.queryRow(ctx, `SELECT COUNT(*) FROM message_data WHERE blob_key = ?`, key).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("sqlite: blob referenced: %w", err)
	}
	return n > 0, nil
}
