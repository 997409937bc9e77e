package mailbox

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/cabalmail/cabalmail/internal/blob"
	"github.com/cabalmail/cabalmail/internal/store"
)

// commitReq is one caller's messages waiting for the group committer.
type commitReq struct {
	msgs []store.NewMessage
	// bodies are written but not yet durable: the committer syncs them
	// before committing any row (see blob.Pending).
	bodies []*blob.Pending
	done   chan commitRes
}

type commitRes struct {
	added []store.Added
	err   error
}

// maxBatch bounds the messages of one group commit.
const maxBatch = 512

// commitTimeout bounds one group commit; it does not depend on any
// caller's context, since a caller that gives up must still learn whether
// its message was stored (to delete the body if it was not).
const commitTimeout = 2 * time.Minute

// committer is the group committer: it takes every request waiting,
// makes their bodies durable (blob.Pending, one round of fsyncs for the
// batch), then hands the batch to the row stage (commitRows), which
// commits its rows in one store transaction (one fsync), brings the
// indexes of the mailboxes concerned up to date and answers each caller.
// Callers arriving meanwhile form the next batch, so the batch size adapts
// to the load with no added delay. The two stages overlap: while one
// batch's rows commit, the next batch's bodies are synced; each batch's
// rows still commit only after its own bodies are durable, and batches
// commit in order.
func (s *Store) committer() {
	defer s.wg.Done()
	synced := make(chan syncedBatch, 1)
	rowsDone := make(chan struct{})
	go func() {
		defer close(rowsDone)
		for b := range synced {
			s.commitRows(b)
		}
	}()
	defer func() {
		close(synced)
		<-rowsDone
	}()
	for {
		var first *commitReq
		select {
		case <-s.stop:
			return
		case first = <-s.commits:
		}
		batch := []*commitReq{first}
		n := len(first.msgs)
	drain:
		for n < maxBatch {
			select {
			case r := <-s.commits:
				batch = append(batch, r)
				n += len(r.msgs)
			default:
				break drain
			}
		}
		synced <- s.syncBodies(batch, n)
	}
}

// syncedBatch is a batch whose bodies are durable, unless err is set.
type syncedBatch struct {
	batch []*commitReq
	n     int
	err   error
}

// syncBodies makes the bodies of a batch durable, before the rows that
// name them are committed.
func (s *Store) syncBodies(batch []*commitReq, n int) syncedBatch {
	var bodies []*blob.Pending
	for _, r := range batch {
		bodies = append(bodies, r.bodies...)
	}
	b := syncedBatch{batch: batch, n: n}
	if len(bodies) > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), commitTimeout)
		b.err = s.blobs.(pendingBlobs).SyncPending(ctx, bodies)
		cancel()
	}
	return b
}

// commitRows commits the rows of a synced batch in one transaction and
// answers its callers.
func (s *Store) commitRows(b syncedBatch) {
	ctx, cancel := context.WithTimeout(context.Background(), commitTimeout)
	defer cancel()
	msgs := make([]store.NewMessage, 0, b.n)
	for _, r := range b.batch {
		msgs = append(msgs, r.msgs...)
	}
	err := b.err
	var added []store.Added
	if err == nil {
		added, err = s.st.AddMessages(ctx, msgs)
	}
	if err == nil {
		boxes := map[int64]int64{} // mailbox -> user
		for i, a := range added {
			if a.Err == nil {
				boxes[msgs[i].MailboxID] = msgs[i].UserID
			}
		}
		for id, user := range boxes {
			s.changed(ctx, user, id)
		}
	}
	for _, r := range b.batch {
		if err != nil {
			r.done <- commitRes{err: err}
			continue
		}
		r.done <- commitRes{added: added[:len(r.msgs)]}
		added = added[len(r.msgs):]
	}
}

// commit hands msgs, whose body is b, to the group committer and waits for
// the result. It waits even if ctx ends: the caller must know whether the
// rows exist.
func (s *Store) commit(b body, msgs []store.NewMessage) ([]store.Added, error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, ErrClosed
	}
	s.inflight.Add(1)
	s.mu.Unlock()
	defer s.inflight.Done()
	r := &commitReq{msgs: msgs, done: make(chan commitRes, 1)}
	if b.pending != nil {
		r.bodies = []*blob.Pending{b.pending}
	}
	s.commits <- r
	res := <-r.done
	return res.added, res.err
}

// prepared is a message read, normalized and parsed, ready to store.
type prepared struct {
	raw       []byte
	envelope  []byte
	structure []byte
	header    []byte
	search    []byte
	filter    []byte
	sent      time.Time
}

// prepare reads a message (at most MaxMessageSize bytes), turns bare LF
// line endings into CRLF and parses it once for good.
func (s *Store) prepare(r io.Reader) (*prepared, error) {
	raw, err := readMessage(r, s.opts.MaxMessageSize+1)
	if err != nil {
		return nil, fmt.Errorf("mailbox: read message: %w", err)
	}
	if int64(len(raw)) > s.opts.MaxMessageSize {
		return nil, fmt.Errorf("%w: over %d bytes", ErrTooBig, s.opts.MaxMessageSize)
	}
	raw = normalizeLineEndings(raw)
	if int64(len(raw)) > s.opts.MaxMessageSize {
		return nil, fmt.Errorf("%w: over %d bytes with CRLF line endings", ErrTooBig, s.opts.MaxMessageSize)
	}
	env, root := Parse(raw)
	p := &prepared{raw: raw, header: raw[:root.BodyStart]}
	if p.envelope, err = json.Marshal(env); err != nil {
		return nil, fmt.Errorf("mailbox: encode envelope: %w", err)
	}
	if p.structure, err = json.Marshal(root); err != nil {
		return nil, fmt.Errorf("mailbox: encode structure: %w", err)
	}
	p.search = encodeSearch(searchFieldsOf(raw, root))
	p.filter = buildFilter(searchTexts(raw, root))
	p.sent = sentDate(parseHeader(p.header))
	return p, nil
}

// readMessage reads at most limit bytes of r. A reader that knows its
// length (bytes.Reader, strings.Reader) is read into one allocation of the
// right size instead of a slice grown step by step.
func readMessage(r io.Reader, limit int64) ([]byte, error) {
	lr := io.LimitReader(r, limit)
	l, ok := r.(interface{ Len() int })
	if !ok {
		return io.ReadAll(lr)
	}
	// One more than the length, so the read that sees EOF needs no room.
	buf := make([]byte, 0, min(int64(l.Len())+1, limit))
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := lr.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// newMessage is the row of a prepared message stored under key.
func (p *prepared) newMessage(userID, mailboxID int64, key string, flags Flags, date time.Time, quota int64) store.NewMessage {
	if date.IsZero() {
		date = time.Now()
	}
	return store.NewMessage{
		UserID: userID, MailboxID: mailboxID,
		MessageMeta: store.MessageMeta{
			Flags: flags.System, Keywords: flags.Keywords, Size: int64(len(p.raw)),
			InternalDate: date.UTC().Round(0), SentDate: p.sent,
		},
		BlobKey: key, Envelope: p.envelope, Structure: p.structure, Header: p.header, Search: p.search, Filter: p.filter,
		QuotaLimit: quota,
	}
}

// checkFlags normalizes flags given by a caller, refusing invalid keywords.
func checkFlags(f Flags) (Flags, error) {
	if f.System&^(FlagSeen|FlagAnswered|FlagFlagged|FlagDeleted|FlagDraft) != 0 {
		return Flags{}, fmt.Errorf("%w: unknown system flag bits %#x", ErrInvalidFlag, f.System)
	}
	for _, k := range f.Keywords {
		if !isAtom(k) || len(k) > maxKeywordLen {
			return Flags{}, fmt.Errorf("%w: keyword %.80q", ErrInvalidFlag, k)
		}
	}
	f.Keywords = normalizeKeywords(f.Keywords)
	return f, nil
}

// Append stores a message in a mailbox (RFC 3501 6.3.11). It returns once
// the body and its index row are on stable storage; concurrent appends and
// deliveries share one commit. A missing mailbox is ErrNoMailbox (IMAP:
// NO [TRYCREATE]).
func (s *Store) Append(ctx context.Context, userID int64, name string, r io.Reader, opts AppendOptions) (AppendResult, error) {
	flags, err := checkFlags(opts.Flags)
	if err != nil {
		return AppendResult{}, err
	}
	m, err := s.mailbox(ctx, userID, name)
	if err != nil {
		return AppendResult{}, err
	}
	p, err := s.prepare(r)
	if err != nil {
		return AppendResult{}, err
	}
	limit, err := s.quotaLimit(ctx, userID)
	if err != nil {
		return AppendResult{}, err
	}
	if limit > 0 {
		// Refuse early, before writing the body; the commit checks again.
		if err := s.CheckQuota(ctx, userID, int64(len(p.raw))); err != nil {
			return AppendResult{}, err
		}
	}
	b, err := s.putBody(ctx, p.raw)
	if err != nil {
		return AppendResult{}, err
	}
	added, err := s.commit(b, []store.NewMessage{p.newMessage(userID, m.ID, b.key, flags, opts.InternalDate, limit)})
	if err == nil {
		err = added[0].Err
	}
	if err != nil {
		s.dropBody(b)
		return AppendResult{}, mapStoreErr(fmt.Sprintf("append to %q", m.Name), err)
	}
	return AppendResult{UIDValidity: added[0].UIDValidity, UID: added[0].UID}, nil
}

// body is a message body in the blob store: durable already (pending is
// nil), or written and made durable by the committer before it commits
// the rows naming key.
type body struct {
	key     string
	pending *blob.Pending
}

// putBody writes a message body to the blob store: without fsync when the
// blob store can sync a group of bodies at once (the committer does, for
// the batch), durably otherwise.
func (s *Store) putBody(ctx context.Context, raw []byte) (body, error) {
	if pb, ok := s.blobs.(pendingBlobs); ok {
		p, err := pb.PutPending(ctx, bytes.NewReader(raw))
		if err != nil {
			return body{}, fmt.Errorf("mailbox: store body: %w", err)
		}
		return body{key: p.Key, pending: p}, nil
	}
	key, _, err := s.blobs.Put(ctx, bytes.NewReader(raw))
	if err != nil {
		return body{}, fmt.Errorf("mailbox: store body: %w", err)
	}
	return body{key: key}, nil
}

// dropBody deletes a body no committed row names. If that fails the
// orphan sweeper (with OwnsBlobs) removes it later.
func (s *Store) dropBody(b body) {
	if b.pending != nil {
		s.blobs.(pendingBlobs).DiscardPending(b.pending)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := s.blobs.Delete(ctx, b.key); err != nil {
		s.log.Warn("delete body of a message not stored", "blob", b.key, "err", err)
	}
}

// mapStoreErr turns the store's sentinel errors into this package's.
func mapStoreErr(what string, err error) error {
	switch {
	case errors.Is(err, store.ErrOverQuota):
		return fmt.Errorf("%w: %s: %v", ErrOverQuota, what, err)
	case errors.Is(err, store.ErrNotFound):
		return fmt.Errorf("%w: %s: %v", ErrNoMailbox, what, err)
	}
	return fmt.Errorf("mailbox: %s: %w", what, err)
}

// Deliver stores one message for each of users, in INBOX or in
// opts.Mailbox when the user has it, writing the body once: the rows share
// it. It returns once everything is on stable storage, with one Delivery
// per user in the order given. The error is for the delivery as a whole
// (nothing was stored: answer 451 4.3.0, or 552 for ErrTooBig); per-user
// failures are in the entries, ErrOverQuota among them (452 4.2.2).
func (s *Store) Deliver(ctx context.Context, users []int64, r io.Reader, opts DeliverOptions) ([]Delivery, error) {
	if len(users) == 0 {
		return nil, errors.New("mailbox: deliver: no recipients")
	}
	flags, err := checkFlags(opts.Flags)
	if err != nil {
		return nil, err
	}
	want := Inbox
	if opts.Mailbox != "" {
		if want, err = CanonicalName(opts.Mailbox); err != nil {
			return nil, err
		}
	}
	p, err := s.prepare(r)
	if err != nil {
		return nil, err
	}
	out := make([]Delivery, len(users))
	var msgs []store.NewMessage
	var slots []int // out index of each msgs entry
	for i, userID := range users {
		out[i].UserID = userID
		// The quota is checked inside the commit (with the usage read in
		// its transaction); no early check here, which would cost a query.
		m, limit, err := s.deliveryTarget(ctx, userID, want)
		if err != nil {
			out[i].Err = err
			continue
		}
		out[i].Mailbox = m.Name
		msgs = append(msgs, p.newMessage(userID, m.ID, "", flags, opts.InternalDate, limit))
		slots = append(slots, i)
	}
	if len(msgs) == 0 {
		return out, nil
	}
	b, err := s.putBody(ctx, p.raw)
	if err != nil {
		return nil, err
	}
	for i := range msgs {
		msgs[i].BlobKey = b.key
	}
	added, err := s.commit(b, msgs)
	if err != nil {
		s.dropBody(b)
		return nil, fmt.Errorf("mailbox: deliver: %w", err)
	}
	stored := false
	for j, a := range added {
		d := &out[slots[j]]
		if a.Err != nil {
			if errors.Is(a.Err, store.ErrNotFound) {
				// The mailbox is gone (the user was deleted): look it
				// up again next time.
				s.forgetUser(d.UserID)
			}
			d.Err = mapStoreErr(fmt.Sprintf("deliver to user %d", d.UserID), a.Err)
			continue
		}
		d.UIDValidity, d.UID = a.UIDValidity, a.UID
		stored = true
	}
	if !stored {
		s.dropBody(b)
	}
	return out, nil
}

// deliveryTarget finds the mailbox a delivery to userID goes to, and the
// user's quota limit. Both come from the per-user cache when they can
// (deliveryCache); the commit checks that the mailbox still exists and
// belongs to the user.
func (s *Store) deliveryTarget(ctx context.Context, userID int64, want string) (store.Mailbox, int64, error) {
	limit, err := s.cachedQuotaLimit(ctx, userID)
	if err != nil {
		return store.Mailbox{}, 0, err
	}
	if err := s.ready(ctx, userID); err != nil {
		return store.Mailbox{}, 0, err
	}
	if want == Inbox {
		if id := s.cachedInbox(userID); id != 0 {
			return store.Mailbox{ID: id, UserID: userID, Name: Inbox}, limit, nil
		}
	}
	m, err := s.st.MailboxByName(ctx, userID, want)
	if errors.Is(err, store.ErrNotFound) && want != Inbox {
		m, err = s.st.MailboxByName(ctx, userID, Inbox)
	}
	if err != nil {
		return store.Mailbox{}, 0, mapStoreErr(fmt.Sprintf("deliver to user %d", userID), err)
	}
	if m.Name == Inbox {
		s.cacheInbox(userID, m.ID)
	}
	return m, limit, nil
}
