package mailbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/cabalmail/cabalmail/internal/blob"
	"github.com/cabalmail/cabalmail/internal/store"
)

// View is one session's view of a selected mailbox: the messages it has
// announced, in sequence-number order, and what it has yet to report. The
// shared index moves on as the mailbox changes; a view catches up only in
// Sync, so sequence numbers stay stable between the session's commands
// (RFC 3501 7.4.1). Its methods must not be called concurrently.
type View struct {
	s      *Store
	x      *index
	userID int64
	closed bool

	uids      []uint32 // sequence order
	uidHigh   uint32   // highest UID the view has taken in
	exists    uint32   // message count the session knows
	flagsSeen uint64   // flag changes up to this mod-sequence are reported
	expSeen   uint64   // expunges up to this mod-sequence are applied
	keywords  []string
	status    Status
	wait      chan struct{}
	own       map[uint32]uint64 // flag changes this view made itself, not to echo
}

// Select opens a view of a mailbox for a session (SELECT or EXAMINE). The
// mailbox's index is loaded once per process and shared; selecting it
// again costs a store look-up of what changed and a copy of its UIDs.
func (s *Store) Select(ctx context.Context, userID int64, name string) (*View, error) {
	x, err := s.selectIndex(ctx, userID, name)
	if err != nil {
		return nil, err
	}
	v := &View{s: s, x: x, userID: userID}
	x.mu.RLock()
	// Shared with the index until either changes it (see index.uids).
	v.uids = x.uids[:len(x.uids):len(x.uids)]
	if n := len(v.uids); n > 0 {
		v.uidHigh = v.uids[n-1]
	}
	v.exists = uint32(len(v.uids))
	v.flagsSeen = x.info.HighestModSeq
	v.expSeen = x.info.HighestModSeq
	v.keywords = x.info.Keywords
	v.status = x.statusLocked()
	v.wait = x.notify
	x.mu.RUnlock()
	// Load the header search cache ahead of the first search.
	x.hdrMu.Lock()
	cold := x.hdr == nil
	if cold {
		x.hdr = &headerCache{}
	}
	x.hdrMu.Unlock()
	if cold {
		s.mu.Lock()
		if !s.closed {
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				ctx, cancel := s.background(warmTimeout)
				defer cancel()
				if _, _, err := x.headerSnapshot(ctx); err != nil && ctx.Err() == nil {
					s.log.Warn("load header cache", "mailbox", x.id, "err", err)
				}
			}()
		}
		s.mu.Unlock()
	}
	return v, nil
}

// selectIndex returns the up-to-date index of the user's mailbox name,
// with one more reference. When the poller (or this process's own
// changes) looked at the user's mailboxes within 2*PollInterval and the
// index already holds what that look saw, it answers from memory: the
// store is not read, and a change another process made since that look
// shows at the next poll, as it does for a view already open. Without
// such a look it takes one itself, which the poller goes on renewing
// while the index stays loaded: the Selects until the poller's first look
// (up to PollInterval later) answer from memory too.
func (s *Store) selectIndex(ctx context.Context, userID int64, name string) (*index, error) {
	cname, err := CanonicalName(name)
	if err != nil {
		return nil, err
	}
	if !s.lookedRecently(userID) {
		if err := s.ready(ctx, userID); err != nil {
			return nil, err
		}
		if err := s.look(ctx, userID); err != nil {
			return nil, err
		}
	}
	if id, st, ok := s.cachedMailbox(userID, cname); ok {
		x, err := s.acquire(userID, id)
		if err != nil {
			return nil, err
		}
		x.mu.RLock()
		fresh := x.loaded && !x.gone && x.info.Name == cname && x.info.HighestModSeq >= st.modseq && x.info.UIDNext >= st.uidnext
		x.mu.RUnlock()
		if fresh {
			return x, nil
		}
		if err := x.refresh(ctx); err == nil {
			x.mu.RLock()
			renamed := x.info.Name != cname
			x.mu.RUnlock()
			if !renamed {
				return x, nil
			}
		} else if !errors.Is(err, ErrNoMailbox) {
			s.release(x)
			return nil, err
		}
		// Gone or renamed since the look: ask the store by name.
		s.release(x)
	}
	m, err := s.mailbox(ctx, userID, cname)
	if err != nil {
		return nil, err
	}
	x, err := s.acquire(userID, m.ID)
	if err != nil {
		return nil, err
	}
	if err := x.refresh(ctx); err != nil {
		s.release(x)
		if errors.Is(err, ErrNoMailbox) {
			return nil, fmt.Errorf("%w: %q", ErrNoMailbox, m.Name)
		}
		return nil, err
	}
	return x, nil
}

// lookedRecently reports whether the user's mailbox names are cached from
// a look recent enough for cachedMailbox.
func (s *Store) lookedRecently(userID int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.users[userID]
	return u != nil && u.ready && u.names != nil && !s.closed && time.Since(u.looked) <= 2*s.opts.PollInterval
}

// Close ends the view.
func (v *View) Close() error {
	if v.closed {
		return nil
	}
	v.closed = true
	v.s.release(v.x)
	return nil
}

// Mailbox returns the selected mailbox's entry (without Subscribed).
func (v *View) Mailbox() MailboxInfo {
	v.x.mu.RLock()
	defer v.x.mu.RUnlock()
	return MailboxInfo{ID: v.x.id, Name: v.x.info.Name, SpecialUse: SpecialUse(v.x.info.SpecialUse)}
}

// Status returns the mailbox's counters as of the last Sync (or Select);
// Messages is the view's own count.
func (v *View) Status() Status {
	st := v.status
	st.Messages = uint32(len(v.uids))
	return st
}

// Keywords returns the keywords defined in the mailbox, for FLAGS and
// PERMANENTFLAGS (which should also offer \*).
func (v *View) Keywords() []string { return v.keywords }

// UIDs returns the UIDs of the view in sequence order: sequence number n
// is UIDs()[n-1]. The slice is valid until the next Sync; do not modify.
func (v *View) UIDs() []uint32 { return v.uids }

// SeqNum returns the sequence number of uid, or 0 if it is not in the view.
func (v *View) SeqNum(uid uint32) uint32 {
	i := sort.Search(len(v.uids), func(i int) bool { return v.uids[i] >= uid })
	if i < len(v.uids) && v.uids[i] == uid {
		return uint32(i + 1)
	}
	return 0
}

// FirstUnseen returns the sequence number of the first message without
// \Seen, or 0.
func (v *View) FirstUnseen() uint32 {
	x := v.x
	x.mu.RLock()
	if sameUIDs(v.uids, x.uids) {
		// The view's sequence numbers are the index's: use, or fill, the
		// index's answer, kept until its next change.
		if x.fuValid {
			n := x.fuSeq
			x.mu.RUnlock()
			return n
		}
		x.mu.RUnlock()
		x.mu.Lock()
		defer x.mu.Unlock()
		if !sameUIDs(v.uids, x.uids) {
			return v.firstUnseenLocked()
		}
		if !x.fuValid {
			x.fuSeq = 0
			for i := range x.msgs {
				if x.msgs[i].flags&FlagSeen == 0 {
					x.fuSeq = uint32(i + 1)
					break
				}
			}
			x.fuValid = true
		}
		return x.fuSeq
	}
	defer x.mu.RUnlock()
	return v.firstUnseenLocked()
}

// sameUIDs reports whether a and b are the same slice.
func sameUIDs(a, b []uint32) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}

// firstUnseenLocked is FirstUnseen by walking the view's UIDs; v.x.mu is
// held.
func (v *View) firstUnseenLocked() uint32 {
	msgs := v.x.msgs
	j := 0
	for i, uid := range v.uids {
		for j < len(msgs) && msgs[j].uid < uid {
			j++
		}
		if j < len(msgs) && msgs[j].uid == uid && msgs[j].flags&FlagSeen == 0 {
			return uint32(i + 1)
		}
	}
	return 0
}

// Messages returns the metadata of the messages of uids (ascending) that
// still exist, from memory. Expunged ones (still in the view until Sync
// reports them) are left out.
func (v *View) Messages(uids []uint32) []Message {
	return v.x.appendMessages(make([]Message, 0, len(uids)), uids)
}

// AppendMessages is Messages appending to dst, so a caller walking a large
// mailbox in batches can reuse one slice (dst[:0]) and allocate nothing.
func (v *View) AppendMessages(dst []Message, uids []uint32) []Message {
	return v.x.appendMessages(dst, uids)
}

// AppendFlags is AppendMessages with only UID, ModSeq and Flags filled
// in (Size and the dates are zero): what FETCH FLAGS over a large mailbox
// needs, without converting two dates per message.
func (v *View) AppendFlags(dst []Message, uids []uint32) []Message {
	return v.x.appendFlags(dst, uids)
}

// ChangedSince returns, in UID order, the messages with a mod-sequence
// above modseq (RFC 7162 CHANGEDSINCE, QRESYNC).
func (v *View) ChangedSince(modseq uint64) []Message {
	v.x.mu.RLock()
	defer v.x.mu.RUnlock()
	var out []Message
	for i := range v.x.msgs {
		if v.x.msgs[i].modseq > modseq {
			out = append(out, v.x.msgs[i].message())
		}
	}
	return out
}

// ExpungedSince returns the UIDs expunged with a mod-sequence above
// modseq, ascending (RFC 7162 3.2.5.1 VANISHED (EARLIER)).
func (v *View) ExpungedSince(ctx context.Context, modseq uint64) ([]uint32, error) {
	ts, err := v.s.st.Expunged(ctx, v.userID, v.x.id, modseq)
	if err != nil {
		return nil, mapStoreErr("expunged", err)
	}
	out := make([]uint32, len(ts))
	for i, t := range ts {
		out[i] = t.UID
	}
	return out, nil
}

// Parsed returns the cached envelope and body structure of the messages
// of uids (ascending) that still exist, in UID order.
func (v *View) Parsed(ctx context.Context, uids []uint32) ([]Parsed, error) {
	var out []Parsed
	err := v.s.st.ScanMessageData(ctx, v.userID, v.x.id, uids, store.DataEnvelope|store.DataStructure, func(r store.MessageRow) error {
		p := Parsed{UID: r.UID, Envelope: &Envelope{}, Structure: &Part{}}
		if err := json.Unmarshal(r.Envelope, p.Envelope); err != nil {
			return fmt.Errorf("message %d: envelope: %w", r.UID, err)
		}
		if err := json.Unmarshal(r.Structure, p.Structure); err != nil {
			return fmt.Errorf("message %d: structure: %w", r.UID, err)
		}
		out = append(out, p)
		return nil
	})
	if err != nil {
		return nil, mapStoreErr("read parsed messages", err)
	}
	return out, nil
}

// OpenBody opens the stored message of uid, exactly as FETCH BODY[]
// returns it (CRLF line endings). Sections are byte ranges given by its
// Parsed structure; the reader supports Seek and ReadAt. ErrNoMessage if
// the message is gone.
func (v *View) OpenBody(ctx context.Context, uid uint32) (blob.Reader, error) {
	var key string
	err := v.s.st.ScanMessageData(ctx, v.userID, v.x.id, []uint32{uid}, store.DataBlobKey, func(r store.MessageRow) error {
		key = r.BlobKey
		return nil
	})
	if err != nil {
		return nil, mapStoreErr("open body", err)
	}
	if key == "" {
		return nil, fmt.Errorf("%w: UID %d", ErrNoMessage, uid)
	}
	r, err := v.s.openBlob(ctx, key)
	if errors.Is(err, blob.ErrNotFound) {
		return nil, fmt.Errorf("%w: UID %d: body gone", ErrNoMessage, uid)
	}
	if err != nil {
		return nil, fmt.Errorf("mailbox: open body of UID %d: %w", uid, err)
	}
	return r, nil
}

// Updated returns a channel that is closed when the mailbox may have
// changed since the last Sync (for IDLE): call Sync, then Updated again.
func (v *View) Updated() <-chan struct{} { return v.wait }

// Sync brings the view up to date and returns what to tell the session.
// With allowExpunge false (during FETCH, STORE and SEARCH by sequence
// number, RFC 3501 7.4.1) expunged messages stay in the view, keeping
// sequence numbers stable; the next Sync that allows them reports them.
func (v *View) Sync(ctx context.Context, allowExpunge bool) (Changes, error) {
	if v.closed {
		return Changes{}, ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return Changes{}, err
	}
	x := v.x
	x.mu.RLock()
	defer x.mu.RUnlock()
	var ch Changes
	v.wait = x.notify
	if x.gone {
		ch.Gone = true
		return ch, nil
	}
	high := x.info.HighestModSeq
	logOK := func(since uint64) bool { return since >= x.logFloor }

	if allowExpunge && v.expSeen < high {
		var gone []uint32
		if logOK(v.expSeen) {
			for _, c := range x.log[firstAfter(x.log, v.expSeen):] {
				if c.expunged && v.SeqNum(c.uid) != 0 {
					gone = append(gone, c.uid)
				}
			}
			sort.Slice(gone, func(i, j int) bool { return gone[i] < gone[j] })
		} else {
			j := 0
			for _, uid := range v.uids {
				for j < len(x.msgs) && x.msgs[j].uid < uid {
					j++
				}
				if j == len(x.msgs) || x.msgs[j].uid != uid {
					gone = append(gone, uid)
				}
			}
		}
		if len(gone) > 0 {
			// Report from the highest sequence number down, so each number
			// is still valid when the client reads it.
			ch.ExpungedUIDs = gone
			for i := len(gone) - 1; i >= 0; i-- {
				ch.Expunged = append(ch.Expunged, v.SeqNum(gone[i]))
			}
			kept := v.uids[:0:0]
			k := 0
			for _, uid := range v.uids {
				if k < len(gone) && gone[k] == uid {
					k++
					continue
				}
				kept = append(kept, uid)
			}
			v.uids = kept
			v.exists -= uint32(len(gone))
		}
		v.expSeen = high
	}

	if v.flagsSeen < high {
		var changed []uint32
		if logOK(v.flagsSeen) {
			for _, c := range x.log[firstAfter(x.log, v.flagsSeen):] {
				if !c.expunged && c.uid <= v.uidHigh {
					changed = append(changed, c.uid)
				}
			}
			sort.Slice(changed, func(i, j int) bool { return changed[i] < changed[j] })
		} else {
			for i := range x.msgs {
				if e := &x.msgs[i]; e.modseq > v.flagsSeen && e.uid <= v.uidHigh {
					changed = append(changed, e.uid)
				}
			}
		}
		last := uint32(0)
		for _, uid := range changed {
			if uid == last {
				continue
			}
			last = uid
			i, ok := findUID(x.msgs, uid)
			if !ok || v.SeqNum(uid) == 0 {
				continue
			}
			e := &x.msgs[i]
			if e.modseq <= v.flagsSeen || v.own[uid] == e.modseq {
				continue
			}
			ch.Updated = append(ch.Updated, e.message())
		}
		v.flagsSeen = high
	}
	v.own = nil

	// New messages: UIDs only grow, so they follow the view's highest.
	i := sort.Search(len(x.msgs), func(i int) bool { return x.msgs[i].uid > v.uidHigh })
	for ; i < len(x.msgs); i++ {
		v.uids = append(v.uids, x.msgs[i].uid)
		v.uidHigh = x.msgs[i].uid
	}
	if n := uint32(len(v.uids)); n != v.exists {
		ch.Exists, ch.NewExists = n, true
		v.exists = n
	}
	if !sameStrings(v.keywords, x.info.Keywords) {
		v.keywords = x.info.Keywords
		ch.Keywords, ch.NewKeywords = v.keywords, true
	}
	v.status = x.statusLocked()
	return ch, nil
}

// firstAfter returns the position of the first log entry above modseq.
func firstAfter(log []change, modseq uint64) int {
	return sort.Search(len(log), func(i int) bool { return log[i].modseq > modseq })
}

func sameStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// StoreFlags changes the flags of the messages of uids (ascending) in one
// transaction (RFC 3501 6.4.6), with UNCHANGEDSINCE if opts says so
// (RFC 7162 3.1.3). It returns the messages whose flags changed, with their
// new flags and mod-sequence, and the UIDs left alone because they were
// modified since UnchangedSince. Other sessions see the change at their
// next Sync; this view does not report its own changes again.
func (v *View) StoreFlags(ctx context.Context, uids []uint32, op FlagOp, flags Flags, opts StoreOptions) (updated []Message, modified []uint32, err error) {
	if v.closed {
		return nil, nil, ErrClosed
	}
	if op != FlagsAdd && op != FlagsRemove && op != FlagsReplace {
		return nil, nil, fmt.Errorf("mailbox: store flags: unknown operation %d", op)
	}
	if flags, err = checkFlags(flags); err != nil {
		return nil, nil, err
	}
	if len(uids) == 0 {
		return nil, nil, nil
	}
	res, err := v.s.st.UpdateFlags(ctx, v.userID, v.x.id, store.FlagUpdate{
		UIDs: uids, Op: int(op), Flags: flags.System, Keywords: flags.Keywords, UnchangedSince: opts.UnchangedSince,
	})
	if err != nil {
		return nil, nil, mapStoreErr("store flags", err)
	}
	if len(res.Updated) > 0 {
		if v.own == nil {
			v.own = map[uint32]uint64{}
		}
		for _, m := range res.Updated {
			e := entryOf(m)
			updated = append(updated, e.message())
			v.own[m.UID] = m.ModSeq
		}
		v.s.changed(ctx, v.userID, v.x.id)
	}
	return updated, res.Modified, nil
}

// Expunge removes the messages with \Deleted: all of them (uids nil), or
// those among uids (UID EXPUNGE, RFC 4315 2.1). It returns their UIDs; the
// view itself drops them at the next Sync that allows expunges.
func (v *View) Expunge(ctx context.Context, uids []uint32) ([]uint32, error) {
	if v.closed {
		return nil, ErrClosed
	}
	if uids != nil && len(uids) == 0 {
		return nil, nil
	}
	gone, err := v.s.st.ExpungeMessages(ctx, v.userID, v.x.id, uids)
	if err != nil {
		return nil, mapStoreErr("expunge", err)
	}
	if len(gone) > 0 {
		v.s.changed(ctx, v.userID, v.x.id)
	}
	return gone, nil
}

// Copy copies the messages of uids (ascending) to the mailbox dest in one
// transaction (RFC 3501 6.4.7); the copies share the bodies. The result
// feeds COPYUID (RFC 4315 3).
func (v *View) Copy(ctx context.Context, uids []uint32, dest string) (CopyResult, error) {
	return v.copyOrMove(ctx, uids, dest, false)
}

// Move moves the messages of uids (ascending) to the mailbox dest
// atomically (RFC 6851); the session reports the expunges at its next
// Sync.
func (v *View) Move(ctx context.Context, uids []uint32, dest string) (CopyResult, error) {
	return v.copyOrMove(ctx, uids, dest, true)
}

func (v *View) copyOrMove(ctx context.Context, uids []uint32, dest string, move bool) (CopyResult, error) {
	if v.closed {
		return CopyResult{}, ErrClosed
	}
	d, err := v.s.mailbox(ctx, v.userID, dest)
	if err != nil {
		return CopyResult{}, err
	}
	if move && d.ID == v.x.id {
		return CopyResult{}, fmt.Errorf("%w: move into the same mailbox", ErrNotAllowed)
	}
	res := CopyResult{UIDValidity: d.UIDValidity}
	if len(uids) == 0 {
		return res, nil
	}
	limit, err := v.s.quotaLimit(ctx, v.userID)
	if err != nil {
		return CopyResult{}, err
	}
	res.Source, res.Dest, err = v.s.st.CopyMessages(ctx, v.userID, v.x.id, uids, d.ID, move, limit)
	if err != nil {
		return CopyResult{}, mapStoreErr(fmt.Sprintf("copy to %q", d.Name), err)
	}
	if len(res.Source) > 0 {
		v.s.changed(ctx, v.userID, v.x.id, d.ID)
	}
	return res, nil
}

// warmTimeout bounds a background load started by Warm or Select.
const warmTimeout = 5 * time.Minute

// Warm loads, in the background, the index and the header search cache of
// the user's INBOX, so the first SELECT and SEARCH of a session that just
// logged in are memory operations. It returns at once.
func (s *Store) Warm(userID int64) {
	if s.warmAlready(userID) {
		return
	}
	s.mu.Lock()
	closed := s.closed
	if !closed {
		s.wg.Add(1)
	}
	s.mu.Unlock()
	if closed {
		return
	}
	go func() {
		defer s.wg.Done()
		ctx, cancel := s.background(warmTimeout)
		defer cancel()
		// From memory when the index is fresh, as Select.
		x, err := s.selectIndex(ctx, userID, Inbox)
		if err != nil {
			return
		}
		defer s.release(x)
		if _, _, err := x.headerSnapshot(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("warm header cache", "user", userID, "err", err)
		}
	}()
}

// warmAlready reports, without touching the store, whether the user's
// INBOX index and header cache are loaded and fresh (see selectIndex), so
// Warm has nothing to do.
func (s *Store) warmAlready(userID int64) bool {
	id, st, ok := s.cachedMailbox(userID, Inbox)
	if !ok {
		return false
	}
	s.mu.Lock()
	x := s.indexes[id]
	s.mu.Unlock()
	if x == nil {
		return false
	}
	x.mu.RLock()
	fresh := x.loaded && !x.gone && x.info.Name == Inbox && x.info.HighestModSeq >= st.modseq && x.info.UIDNext >= st.uidnext
	var last uint32
	if n := len(x.uids); n > 0 {
		last = x.uids[n-1]
	}
	x.mu.RUnlock()
	if !fresh {
		return false
	}
	if !x.hdrMu.TryLock() {
		return false // being loaded: never wait here
	}
	loaded := x.hdr != nil && x.hdr.high >= last
	x.hdrMu.Unlock()
	return loaded
}

// background returns a context that ends after d or when the Store
// closes.
func (s *Store) background(d time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	go func() {
		select {
		case <-s.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}
