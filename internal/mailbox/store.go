package mailbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/cabalmail/cabalmail/internal/store"
)

// Store is the mailbox store of one process: it owns the in-memory indexes
// of the mailboxes in use, the group committer, the change feed and the
// garbage sweeper. It is safe for concurrent use.
type Store struct {
	opts  Options
	st    store.Store
	blobs BlobStore
	log   *slog.Logger

	commits  chan *commitReq
	inflight sync.WaitGroup // callers between enqueue and reply
	stop     chan struct{}
	wg       sync.WaitGroup // background goroutines

	mu      sync.Mutex
	closed  bool
	indexes map[int64]*index
	users   map[int64]*userState
}

// userState is what the Store keeps per user it has seen.
type userState struct {
	ready    bool // the default mailboxes exist
	watchers map[chan struct{}]struct{}
	stamps   map[int64]stamp // the poller's last look at the user's mailboxes
	// names maps each mailbox name to its ID as of the look at looked;
	// Select trusts it (and the stamps) for 2*PollInterval after that
	// look. This process's creates, deletes and renames drop it and bump
	// gen, so a look begun before one of them is not kept.
	names  map[string]int64
	looked time.Time
	gen    uint64
	cache  deliveryCache
}

// stamp is what the poller compares to see a mailbox changed.
type stamp struct {
	name    string
	modseq  uint64
	uidnext uint32
}

// Defaults of Options.
const (
	defaultMaxMessageSize = 64 << 20
	defaultPollInterval   = 500 * time.Millisecond
	defaultGarbageGrace   = time.Minute
	// maxIdleIndexes is how many indexes no view uses are kept in memory,
	// so a client that selects mailboxes in turn does not reload them.
	maxIdleIndexes = 16
)

// Open starts a mailbox store on opts.Store and opts.Blobs. Close stops it.
func Open(ctx context.Context, opts Options) (*Store, error) {
	if opts.Store == nil || opts.Blobs == nil {
		return nil, errors.New("mailbox: open: Options.Store and Options.Blobs are required")
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("mailbox: open: %w", err)
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.MaxMessageSize <= 0 {
		opts.MaxMessageSize = defaultMaxMessageSize
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = defaultPollInterval
	}
	if opts.GarbageGrace <= 0 {
		opts.GarbageGrace = defaultGarbageGrace
	}
	s := &Store{
		opts: opts, st: opts.Store, blobs: opts.Blobs, log: opts.Logger.With("pkg", "mailbox"),
		commits: make(chan *commitReq, 1024), stop: make(chan struct{}),
		indexes: map[int64]*index{}, users: map[int64]*userState{},
	}
	s.wg.Add(3)
	go s.committer()
	go s.poller()
	go s.sweeper()
	return s, nil
}

// Close stops the background work after the appends under way are
// committed. Views should be closed first.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	s.inflight.Wait()
	close(s.stop)
	s.wg.Wait()
	return nil
}

// user returns the state of a user, creating it; s.mu is held.
func (s *Store) userLocked(userID int64) *userState {
	u := s.users[userID]
	if u == nil {
		u = &userState{watchers: map[chan struct{}]struct{}{}}
		s.users[userID] = u
	}
	return u
}

// ready makes sure the user has the default mailboxes: on first use, when
// the user has no INBOX (which cannot be deleted), it creates the special-
// use set and subscribes to it.
func (s *Store) ready(ctx context.Context, userID int64) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	ok := s.userLocked(userID).ready
	s.mu.Unlock()
	if ok {
		return nil
	}
	_, err := s.st.MailboxByName(ctx, userID, Inbox)
	if errors.Is(err, store.ErrNotFound) {
		for _, d := range defaultMailboxes {
			m := store.Mailbox{UserID: userID, Name: d.name, SpecialUse: string(d.use)}
			if err := s.st.CreateMailbox(ctx, &m); err != nil && !errors.Is(err, store.ErrExists) {
				return fmt.Errorf("mailbox: create %s for user %d: %w", d.name, userID, err)
			}
			if err := s.st.Subscribe(ctx, userID, d.name); err != nil {
				return fmt.Errorf("mailbox: subscribe %s for user %d: %w", d.name, userID, err)
			}
		}
		s.notifyUser(userID)
	} else if err != nil {
		return fmt.Errorf("mailbox: user %d: %w", userID, err)
	}
	s.mu.Lock()
	s.userLocked(userID).ready = true
	s.mu.Unlock()
	return nil
}

// forgetNames drops the user's cached mailbox names: this process is
// changing them, so Select asks the store until the next look.
func (s *Store) forgetNames(userID int64) {
	s.mu.Lock()
	u := s.userLocked(userID)
	u.names, u.looked = nil, time.Time{}
	u.gen++
	s.mu.Unlock()
}

// lookGen returns the generation of the user's names, to be passed to
// lookedAtLocked by a look at the user's mailboxes begun now.
func (s *Store) lookGen(userID int64) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.userLocked(userID).gen
}

// lookedAt records a look at the user's mailboxes (the poller's or
// Warm's), begun at t when the names' generation was gen; s.mu is held.
// It returns the previous stamps.
func (s *Store) lookedAtLocked(userID int64, boxes []store.Mailbox, t time.Time, gen uint64) map[int64]stamp {
	stamps := make(map[int64]stamp, len(boxes))
	names := make(map[string]int64, len(boxes))
	for _, b := range boxes {
		stamps[b.ID] = stamp{name: b.Name, modseq: b.HighestModSeq, uidnext: b.UIDNext}
		names[b.Name] = b.ID
	}
	u := s.userLocked(userID)
	old := u.stamps
	u.stamps = stamps
	// A local create, delete or rename since the look began may be
	// missing from it: keep the names forgotten until the next look.
	if u.gen == gen && !u.looked.After(t) {
		u.names, u.looked = names, t
	}
	return old
}

// cachedMailbox returns the ID of the user's mailbox cname and the stamp
// of the last look at the user's mailboxes, if that look is recent (within
// 2*PollInterval) and this process changed no mailbox name since.
func (s *Store) cachedMailbox(userID int64, cname string) (int64, stamp, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.users[userID]
	if u == nil || !u.ready || u.names == nil || s.closed || time.Since(u.looked) > 2*s.opts.PollInterval {
		return 0, stamp{}, false
	}
	id, ok := u.names[cname]
	if !ok {
		return 0, stamp{}, false
	}
	return id, u.stamps[id], true
}

// mailbox finds the user's mailbox by name.
func (s *Store) mailbox(ctx context.Context, userID int64, name string) (store.Mailbox, error) {
	cname, err := CanonicalName(name)
	if err != nil {
		return store.Mailbox{}, err
	}
	if err := s.ready(ctx, userID); err != nil {
		return store.Mailbox{}, err
	}
	m, err := s.st.MailboxByName(ctx, userID, cname)
	if errors.Is(err, store.ErrNotFound) {
		return store.Mailbox{}, fmt.Errorf("%w: %q", ErrNoMailbox, cname)
	}
	if err != nil {
		return store.Mailbox{}, fmt.Errorf("mailbox: %q: %w", cname, err)
	}
	return m, nil
}

// List returns the user's mailboxes, INBOX first and then by name,
// creating the special-use set on first use. Names that are not mailboxes
// but parents of one are included as NonExistent.
func (s *Store) List(ctx context.Context, userID int64) ([]MailboxInfo, error) {
	if err := s.ready(ctx, userID); err != nil {
		return nil, err
	}
	boxes, err := s.st.ListMailboxes(ctx, userID)
	if err != nil {
		return nil, fmt.Errorf("mailbox: list: %w", err)
	}
	subs, err := s.st.Subscriptions(ctx, userID)
	if err != nil {
		return nil, fmt.Errorf("mailbox: list: %w", err)
	}
	subscribed := map[string]bool{}
	for _, n := range subs {
		subscribed[n] = true
	}
	byName := map[string]*MailboxInfo{}
	var out []*MailboxInfo
	for _, b := range boxes {
		mi := &MailboxInfo{ID: b.ID, Name: b.Name, SpecialUse: SpecialUse(b.SpecialUse), Subscribed: subscribed[b.Name]}
		byName[b.Name] = mi
		out = append(out, mi)
	}
	for _, b := range boxes {
		for _, p := range parents(b.Name) {
			mi := byName[p]
			if mi == nil {
				mi = &MailboxInfo{Name: p, NonExistent: true, Subscribed: subscribed[p]}
				byName[p] = mi
				out = append(out, mi)
			}
			mi.HasChildren = true
		}
	}
	sort.Slice(out, func(i, j int) bool { return lessName(out[i].Name, out[j].Name) })
	res := make([]MailboxInfo, len(out))
	for i, mi := range out {
		res[i] = *mi
	}
	return res, nil
}

// lessName orders mailbox names: INBOX and its children first.
func lessName(a, b string) bool {
	ai := a == Inbox || isBelow(a, Inbox)
	bi := b == Inbox || isBelow(b, Inbox)
	if ai != bi {
		return ai
	}
	return a < b
}

// Subscriptions returns the names the user subscribed to, which need not
// exist.
func (s *Store) Subscriptions(ctx context.Context, userID int64) ([]string, error) {
	if err := s.ready(ctx, userID); err != nil {
		return nil, err
	}
	subs, err := s.st.Subscriptions(ctx, userID)
	if err != nil {
		return nil, fmt.Errorf("mailbox: subscriptions: %w", err)
	}
	return subs, nil
}

// Create makes a mailbox and any missing parents (RFC 3501 6.3.3). use may
// name an RFC 6154 attribute (CREATE-SPECIAL-USE, RFC 6154 3); an unknown
// one is refused with ErrNotAllowed.
func (s *Store) Create(ctx context.Context, userID int64, name string, use SpecialUse) error {
	cname, err := CanonicalName(name)
	if err != nil {
		return err
	}
	if !validUse(use) {
		return fmt.Errorf("%w: special use %.40q is not supported", ErrNotAllowed, use)
	}
	if err := s.ready(ctx, userID); err != nil {
		return err
	}
	if cname == Inbox {
		return fmt.Errorf("%w: %s", ErrExists, Inbox)
	}
	s.forgetNames(userID)
	defer s.notifyUser(userID)
	for _, p := range parents(cname) {
		m := store.Mailbox{UserID: userID, Name: p}
		if err := s.st.CreateMailbox(ctx, &m); err != nil && !errors.Is(err, store.ErrExists) {
			return fmt.Errorf("mailbox: create %q: %w", p, err)
		}
	}
	m := store.Mailbox{UserID: userID, Name: cname, SpecialUse: string(use)}
	if err := s.st.CreateMailbox(ctx, &m); errors.Is(err, store.ErrExists) {
		return fmt.Errorf("%w: %q", ErrExists, cname)
	} else if err != nil {
		return fmt.Errorf("mailbox: create %q: %w", cname, err)
	}
	return nil
}

// Delete removes a mailbox and its messages (RFC 3501 6.3.4). INBOX cannot
// be deleted. Children are kept: the deleted name then appears in List as
// NonExistent (\Noselect) while it has children. Subscriptions are kept.
func (s *Store) Delete(ctx context.Context, userID int64, name string) error {
	m, err := s.mailbox(ctx, userID, name)
	if err != nil {
		return err
	}
	if m.Name == Inbox {
		return fmt.Errorf("%w: %s cannot be deleted", ErrNotAllowed, Inbox)
	}
	s.forgetNames(userID)
	defer s.forgetNames(userID)
	if err := s.st.DeleteMailbox(ctx, userID, m.ID); errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: %q", ErrNoMailbox, m.Name)
	} else if err != nil {
		return fmt.Errorf("mailbox: delete %q: %w", m.Name, err)
	}
	s.changed(ctx, userID, m.ID)
	return nil
}

// Rename renames a mailbox with its children and their subscriptions
// (RFC 3501 6.3.5), creating missing parents of the new name. Renaming
// INBOX moves its messages to a new mailbox of that name and leaves INBOX
// empty; INBOX's children stay where they are.
func (s *Store) Rename(ctx context.Context, userID int64, oldName, newName string) error {
	src, err := s.mailbox(ctx, userID, oldName)
	if err != nil {
		return err
	}
	dst, err := CanonicalName(newName)
	if err != nil {
		return err
	}
	if dst == Inbox || dst == src.Name {
		return fmt.Errorf("%w: %q", ErrExists, dst)
	}
	if isBelow(dst, src.Name) {
		return fmt.Errorf("%w: cannot move %q into itself", ErrNotAllowed, src.Name)
	}
	if _, err := s.st.MailboxByName(ctx, userID, dst); err == nil {
		return fmt.Errorf("%w: %q", ErrExists, dst)
	} else if !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("mailbox: rename: %w", err)
	}
	s.forgetNames(userID)
	defer s.changedUser(ctx, userID)
	defer s.forgetNames(userID)
	for _, p := range parents(dst) {
		m := store.Mailbox{UserID: userID, Name: p}
		if err := s.st.CreateMailbox(ctx, &m); err != nil && !errors.Is(err, store.ErrExists) {
			return fmt.Errorf("mailbox: rename: create %q: %w", p, err)
		}
	}
	if src.Name == Inbox {
		// RFC 3501 6.3.5: move INBOX's messages to a new mailbox.
		m := store.Mailbox{UserID: userID, Name: dst}
		if err := s.st.CreateMailbox(ctx, &m); errors.Is(err, store.ErrExists) {
			return fmt.Errorf("%w: %q", ErrExists, dst)
		} else if err != nil {
			return fmt.Errorf("mailbox: rename INBOX: %w", err)
		}
		if err := s.st.MoveAllMessages(ctx, userID, src.ID, m.ID); err != nil {
			if derr := s.st.DeleteMailbox(ctx, userID, m.ID); derr != nil {
				s.log.Error("rename INBOX: remove new mailbox after failure", "user", userID, "mailbox", dst, "err", derr)
			}
			return fmt.Errorf("mailbox: rename INBOX: %w", err)
		}
		return nil
	}
	if err := s.st.RenameMailbox(ctx, userID, src.ID, dst); errors.Is(err, store.ErrExists) {
		return fmt.Errorf("%w: %q or one of its children", ErrExists, dst)
	} else if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: %q", ErrNoMailbox, src.Name)
	} else if err != nil {
		return fmt.Errorf("mailbox: rename %q: %w", src.Name, err)
	}
	// Subscriptions follow the mailboxes, as clients expect.
	subs, err := s.st.Subscriptions(ctx, userID)
	if err != nil {
		return fmt.Errorf("mailbox: rename: subscriptions: %w", err)
	}
	for _, n := range subs {
		if n != src.Name && !isBelow(n, src.Name) {
			continue
		}
		if err := s.st.Subscribe(ctx, userID, dst+n[len(src.Name):]); err != nil {
			return fmt.Errorf("mailbox: rename: subscriptions: %w", err)
		}
		if err := s.st.Unsubscribe(ctx, userID, n); err != nil {
			return fmt.Errorf("mailbox: rename: subscriptions: %w", err)
		}
	}
	return nil
}

// Subscribe adds name to the user's subscriptions (RFC 3501 6.3.6); the
// mailbox need not exist.
func (s *Store) Subscribe(ctx context.Context, userID int64, name string) error {
	cname, err := CanonicalName(name)
	if err != nil {
		return err
	}
	if err := s.ready(ctx, userID); err != nil {
		return err
	}
	if err := s.st.Subscribe(ctx, userID, cname); err != nil {
		return fmt.Errorf("mailbox: subscribe %q: %w", cname, err)
	}
	s.notifyUser(userID)
	return nil
}

// Unsubscribe removes name from the user's subscriptions (RFC 3501 6.3.7).
func (s *Store) Unsubscribe(ctx context.Context, userID int64, name string) error {
	cname, err := CanonicalName(name)
	if err != nil {
		return err
	}
	if err := s.ready(ctx, userID); err != nil {
		return err
	}
	if err := s.st.Unsubscribe(ctx, userID, cname); err != nil {
		return fmt.Errorf("mailbox: unsubscribe %q: %w", cname, err)
	}
	s.notifyUser(userID)
	return nil
}

// Status returns the counters of a mailbox (RFC 3501 6.3.10) from its
// stored row, without loading its index.
func (s *Store) Status(ctx context.Context, userID int64, name string) (Status, error) {
	m, err := s.mailbox(ctx, userID, name)
	if err != nil {
		return Status{}, err
	}
	return statusOf(m), nil
}

func statusOf(m store.Mailbox) Status {
	return Status{
		Messages: uint32(m.Messages), UIDNext: m.UIDNext, UIDValidity: m.UIDValidity,
		Unseen: uint32(m.Unseen), Deleted: uint32(m.Deleted), Size: m.Size, HighestModSeq: m.HighestModSeq,
	}
}

// quotaLimit returns the user's storage limit in bytes, 0 for none: the
// user's own quota if set (negative means unlimited), else the default.
func (s *Store) quotaLimit(ctx context.Context, userID int64) (int64, error) {
	u, err := s.st.UserByID(ctx, userID)
	if err != nil {
		return 0, fmt.Errorf("mailbox: user %d: %w", userID, err)
	}
	switch {
	case u.QuotaBytes > 0:
		return u.QuotaBytes, nil
	case u.QuotaBytes < 0:
		return 0, nil
	}
	return s.opts.DefaultQuota, nil
}

// Quota returns the user's usage and limit (RFC 9208 STORAGE).
func (s *Store) Quota(ctx context.Context, userID int64) (Quota, error) {
	limit, err := s.quotaLimit(ctx, userID)
	if err != nil {
		return Quota{}, err
	}
	used, err := s.st.UsageBytes(ctx, userID)
	if err != nil {
		return Quota{}, fmt.Errorf("mailbox: quota: %w", err)
	}
	return Quota{Used: used, Limit: limit}, nil
}

// CheckQuota returns an error wrapping ErrOverQuota if a message of size
// bytes would take the user over quota, for early refusals (SMTP RCPT TO
// with SIZE, IMAP APPEND before the literal). Append and Deliver check
// again when they commit.
//
// The limit may be up to quotaCacheTTL old; without a limit the usage is
// not read at all.
func (s *Store) CheckQuota(ctx context.Context, userID int64, size int64) error {
	limit, err := s.cachedQuotaLimit(ctx, userID)
	if err != nil {
		return err
	}
	if limit <= 0 {
		return nil
	}
	used, err := s.st.UsageBytes(ctx, userID)
	if err != nil {
		return fmt.Errorf("mailbox: quota: %w", err)
	}
	if used+size > limit {
		return fmt.Errorf("%w: user %d uses %d of %d bytes, message of %d", ErrOverQuota, userID, used, limit, size)
	}
	return nil
}

// Watch returns a channel that receives a value (coalesced) whenever one
// of the user's mailboxes or subscriptions changes: at once for changes
// made through this Store, within PollInterval for changes made by other
// processes sharing the store. stop ends the watch.
func (s *Store) Watch(userID int64) (c <-chan struct{}, stop func()) {
	ch := make(chan struct{}, 1)
	s.mu.Lock()
	s.userLocked(userID).watchers[ch] = struct{}{}
	s.mu.Unlock()
	return ch, func() {
		s.mu.Lock()
		delete(s.userLocked(userID).watchers, ch)
		s.mu.Unlock()
	}
}

// notifyUser wakes the user's watchers.
func (s *Store) notifyUser(userID int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for ch := range s.userLocked(userID).watchers {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// changed is called after this process changed mailboxes of a user: it
// brings their loaded indexes up to date (waking their views) and wakes
// the user's watchers.
func (s *Store) changed(ctx context.Context, userID int64, mailboxIDs ...int64) {
	for _, id := range mailboxIDs {
		s.mu.Lock()
		x := s.indexes[id]
		s.mu.Unlock()
		if x != nil && x.userID == userID {
			if err := x.refresh(ctx); err != nil && !errors.Is(err, ErrNoMailbox) {
				s.log.Warn("refresh index", "mailbox", id, "err", err)
			}
		}
	}
	s.notifyUser(userID)
}

// changedUser is changed for every loaded mailbox of the user.
func (s *Store) changedUser(ctx context.Context, userID int64) {
	var ids []int64
	s.mu.Lock()
	for id, x := range s.indexes {
		if x.userID == userID {
			ids = append(ids, id)
		}
	}
	s.mu.Unlock()
	s.changed(ctx, userID, ids...)
}

// acquire returns the index of a mailbox, loading it if needed, with one
// more reference.
func (s *Store) acquire(userID, id int64) (*index, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	x := s.indexes[id]
	if x == nil || x.userID != userID {
		x = newIndex(s, userID, id)
		s.indexes[id] = x
	}
	x.refs++
	x.lastUsed = time.Now()
	return x, nil
}

// release drops a reference, evicting the least recently used indexes no
// view uses beyond maxIdleIndexes, and deleted mailboxes' at once.
func (s *Store) release(x *index) {
	s.mu.Lock()
	x.refs--
	x.lastUsed = time.Now()
	unused := x.refs == 0
	s.evictLocked()
	s.mu.Unlock()
	if unused {
		// The filters are the largest cache; keep them only while a view
		// uses the mailbox. Not under s.mu: a search may hold fltMu while
		// it loads them.
		x.fltMu.Lock()
		x.flt = nil
		x.fltMu.Unlock()
	}
}

// evictLocked drops the indexes of deleted mailboxes no view uses, and
// the least recently used idle ones beyond maxIdleIndexes; s.mu is held.
func (s *Store) evictLocked() {
	var idle []*index
	for id, y := range s.indexes {
		if y.refs > 0 {
			continue
		}
		y.mu.RLock()
		gone := y.gone
		y.mu.RUnlock()
		if gone {
			delete(s.indexes, id)
			continue
		}
		idle = append(idle, y)
	}
	if len(idle) <= maxIdleIndexes {
		return
	}
	sort.Slice(idle, func(i, j int) bool { return idle[i].lastUsed.Before(idle[j].lastUsed) })
	for _, y := range idle[:len(idle)-maxIdleIndexes] {
		delete(s.indexes, y.id)
	}
}
