package mailbox

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/cabalmail/cabalmail/internal/store"
)

// entry is one message in a mailbox's in-memory index.
type entry struct {
	uid    uint32
	flags  SystemFlags
	kw     []string // shared and never modified: replaced on change
	modseq uint64
	size   int64
	date   int64 // INTERNALDATE, Unix ns
	sent   int64 // Date header, Unix ns; noSent if unknown
}

// noSent marks an unknown sent date.
const noSent = -1 << 63

func entryOf(m store.MessageMeta) entry {
	e := entry{uid: m.UID, flags: m.Flags, kw: m.Keywords, modseq: m.ModSeq, size: m.Size, date: m.InternalDate.UnixNano(), sent: noSent}
	if !m.SentDate.IsZero() {
		e.sent = m.SentDate.UnixNano()
	}
	return e
}

func (e *entry) message() Message {
	m := Message{UID: e.uid, ModSeq: e.modseq, Flags: Flags{System: e.flags, Keywords: e.kw}, Size: e.size,
		InternalDate: time.Unix(0, e.date).UTC()}
	if e.sent != noSent {
		m.SentDate = time.Unix(0, e.sent).UTC()
	}
	return m
}

// change is one entry of an index's change log: a flag change or an
// expunge, in mod-sequence order.
type change struct {
	modseq   uint64
	uid      uint32
	expunged bool
}

// maxLog bounds the change log; a view that falls further behind
// compares its whole UID list instead.
const maxLog = 8192

// index is the in-memory state of one mailbox, shared by every view of it
// in this process and brought up to date from the store by mod-sequence
// (refresh), so SELECT and FETCH FLAGS are memory operations.
type index struct {
	s      *Store
	userID int64
	id     int64

	refreshMu sync.Mutex // one store read at a time

	mu     sync.RWMutex
	loaded bool
	info   store.Mailbox
	msgs   []entry // ascending UID
	// uids are the UIDs of msgs. Views share it (capped, so their appends
	// copy): it is only ever appended to in place, and replaced by a new
	// slice when a UID goes or is inserted before the end.
	uids     []uint32
	log      []change
	logFloor uint64 // the log holds every change above this mod-sequence
	gone     bool   // the mailbox was deleted
	// fuSeq is the sequence number of the first unseen message (0: none)
	// when fuValid; any change to msgs clears fuValid.
	fuSeq   uint32
	fuValid bool
	notify  chan struct{} // closed at each change, then replaced

	// Guarded by s.mu.
	refs     int
	lastUsed time.Time

	hdrMu sync.Mutex
	hdr   *headerCache
	fltMu sync.Mutex
	flt   *filterCache
}

func newIndex(s *Store, userID, id int64) *index {
	return &index{s: s, userID: userID, id: id, notify: make(chan struct{})}
}

// find returns the position of uid in msgs, and whether it is there.
func findUID(msgs []entry, uid uint32) (int, bool) {
	i := sort.Search(len(msgs), func(i int) bool { return msgs[i].uid >= uid })
	return i, i < len(msgs) && msgs[i].uid == uid
}

// refresh reads what changed in the store since the index's mod-sequence
// and applies it, waking the views if anything changed. It returns
// ErrNoMailbox once the mailbox is gone.
func (x *index) refresh(ctx context.Context) error {
	x.refreshMu.Lock()
	defer x.refreshMu.Unlock()
	x.mu.RLock()
	since, gone := x.info.HighestModSeq, x.gone
	if !x.loaded {
		since = 0
	}
	x.mu.RUnlock()
	if gone {
		return fmt.Errorf("mailbox %d: %w", x.id, ErrNoMailbox)
	}
	c, err := x.s.st.MessageChanges(ctx, x.userID, x.id, since)
	if errors.Is(err, store.ErrNotFound) {
		x.mu.Lock()
		x.gone = true
		x.wakeLocked()
		x.mu.Unlock()
		return fmt.Errorf("mailbox %d: %w", x.id, ErrNoMailbox)
	}
	if err != nil {
		return fmt.Errorf("mailbox: refresh: %w", err)
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	changed := x.apply(since, c)
	if changed {
		x.wakeLocked()
	}
	return nil
}

// apply merges changes read after since into the index; x.mu is held.
func (x *index) apply(since uint64, c store.MailboxChanges) bool {
	if !x.loaded {
		x.msgs = make([]entry, len(c.Changed))
		for i, m := range c.Changed {
			x.msgs[i] = entryOf(m)
		}
		x.uids = uidsOf(x.msgs)
		x.info = c.Mailbox
		x.loaded = true
		x.logFloor = c.Mailbox.HighestModSeq
		x.fuValid = false
		return true
	}
	changed := c.Mailbox.HighestModSeq != x.info.HighestModSeq || c.Mailbox.Name != x.info.Name ||
		len(c.Mailbox.Keywords) != len(x.info.Keywords)
	var logged []change
	for _, m := range c.Changed {
		i, found := findUID(x.msgs, m.UID)
		switch {
		case found:
			x.msgs[i] = entryOf(m)
			logged = append(logged, change{modseq: m.ModSeq, uid: m.UID})
		case i == len(x.msgs):
			x.msgs = append(x.msgs, entryOf(m))
			x.uids = append(x.uids, m.UID)
		default:
			x.msgs = append(x.msgs, entry{})
			copy(x.msgs[i+1:], x.msgs[i:])
			x.msgs[i] = entryOf(m)
			x.uids = uidsOf(x.msgs)
		}
		changed = true
	}
	if len(c.Expunged) > 0 {
		gone := make(map[uint32]bool, len(c.Expunged))
		for _, t := range c.Expunged {
			gone[t.UID] = true
			logged = append(logged, change{modseq: t.ModSeq, uid: t.UID, expunged: true})
		}
		kept := x.msgs[:0]
		for _, e := range x.msgs {
			if !gone[e.uid] {
				kept = append(kept, e)
			}
		}
		for i := len(kept); i < len(x.msgs); i++ {
			x.msgs[i] = entry{} // release keyword slices
		}
		x.msgs = kept
		x.uids = uidsOf(x.msgs)
		changed = true
	}
	sort.Slice(logged, func(i, j int) bool { return logged[i].modseq < logged[j].modseq })
	x.log = append(x.log, logged...)
	if len(x.log) > maxLog {
		drop := len(x.log) - maxLog/2
		x.logFloor = x.log[drop-1].modseq
		// A mod-sequence is shared by all the changes of one transaction:
		// never keep only part of one.
		for drop < len(x.log) && x.log[drop].modseq == x.logFloor {
			drop++
		}
		x.log = append([]change(nil), x.log[drop:]...)
	}
	x.info = c.Mailbox
	if changed {
		x.fuValid = false
	}
	return changed
}

// uidsOf returns a new slice of the UIDs of msgs.
func uidsOf(msgs []entry) []uint32 {
	uids := make([]uint32, len(msgs), len(msgs)+len(msgs)/8+16)
	for i := range msgs {
		uids[i] = msgs[i].uid
	}
	return uids
}

// wakeLocked wakes the views waiting on the index; x.mu is held.
func (x *index) wakeLocked() {
	close(x.notify)
	x.notify = make(chan struct{})
}

// appendMessages appends to out the metadata of the messages of uids
// (ascending) that are in the index.
func (x *index) appendMessages(out []Message, uids []uint32) []Message {
	return x.appendEntries(out, uids, (*entry).message)
}

// appendFlags is appendMessages with only UID, ModSeq and Flags filled.
func (x *index) appendFlags(out []Message, uids []uint32) []Message {
	return x.appendEntries(out, uids, func(e *entry) Message {
		return Message{UID: e.uid, ModSeq: e.modseq, Flags: Flags{System: e.flags, Keywords: e.kw}}
	})
}

// appendEntries appends what of each message of uids (ascending) that is
// in the index conv returns.
func (x *index) appendEntries(out []Message, uids []uint32, conv func(*entry) Message) []Message {
	x.mu.RLock()
	defer x.mu.RUnlock()
	msgs := x.msgs
	j := 0
	for _, uid := range uids {
		// Walk forward; jump by binary search when far behind.
		if j < len(msgs) && msgs[j].uid < uid {
			if k := j + 8; k < len(msgs) && msgs[k].uid < uid {
				j += sort.Search(len(msgs)-j, func(i int) bool { return msgs[j+i].uid >= uid })
			} else {
				for j < len(msgs) && msgs[j].uid < uid {
					j++
				}
			}
		}
		if j < len(msgs) && msgs[j].uid == uid {
			out = append(out, conv(&msgs[j]))
		}
	}
	return out
}

// status returns the counters of the mailbox as of the last refresh.
func (x *index) statusLocked() Status {
	return Status{
		Messages: uint32(len(x.msgs)), UIDNext: x.info.UIDNext, UIDValidity: x.info.UIDValidity,
		Unseen: uint32(x.info.Unseen), Deleted: uint32(x.info.Deleted), Size: x.info.Size,
		HighestModSeq: x.info.HighestModSeq,
	}
}
