package queue

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/cabalmail/cabalmail/internal/blob"
	"github.com/cabalmail/cabalmail/internal/store"
)

// Queue is the outbound queue. It is safe for concurrent use, and several
// Queues (in several processes) may share one store and blob directory.
type Queue struct {
	st     store.Store
	blobs  blob.Store
	log    *slog.Logger
	now    func() time.Time
	policy RetryPolicy
	host   string

	// Group commit of Enqueue (commit.go): requests gather, a sync stage
	// makes their bodies durable, a row stage commits their rows.
	mu             sync.Mutex
	gathering      *commitBatch   // requests waiting for the sync stage
	syncing        bool           // the sync stage is running
	synced         []*commitBatch // batches waiting for the row stage
	committingRows bool           // the row stage is running

	// The orphan sweep (sweep.go) runs from Claim, at most one at a time.
	sweepEvery time.Duration
	sweepMu    sync.Mutex
	lastSweep  time.Time
	sweeping   bool

	// Bodies of finished messages are removed by a few background
	// workers, so recording results never waits on file system syncs. A
	// crash before the removal leaves an orphan body, never a lost
	// message: no row names it any more.
	dropOnce sync.Once
	drops    chan string
}

// dropWorkers is how many bodies are removed at once.
const dropWorkers = 8

// dropLater queues the removal of bodies no row names any more.
func (q *Queue) dropLater(keys []string) {
	if len(keys) == 0 {
		return
	}
	q.dropOnce.Do(func() {
		q.drops = make(chan string, 4096)
		for i := 0; i < dropWorkers; i++ {
			go func() {
				for key := range q.drops {
					q.dropBlob(context.Background(), key)
				}
			}()
		}
	})
	for _, k := range keys {
		q.drops <- k
	}
}

// Open returns a queue over the given store and blobs.
func Open(ctx context.Context, opts Options) (*Queue, error) {
	if opts.Store == nil {
		return nil, errors.New("queue: open: no store")
	}
	if opts.Blobs == nil {
		return nil, errors.New("queue: open: no blob store")
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("queue: open: %w", err)
	}
	q := &Queue{st: opts.Store, blobs: opts.Blobs, log: opts.Logger, now: opts.Now, policy: opts.Retry.withDefaults(), host: opts.Hostname}
	if q.log == nil {
		q.log = slog.Default()
	}
	if q.now == nil {
		q.now = time.Now
	}
	q.sweepEvery = opts.SweepOrphansEvery
	if q.sweepEvery == 0 {
		q.sweepEvery = DefaultSweepEvery
	}
	if err := q.policy.check(); err != nil {
		return nil, fmt.Errorf("queue: open: %w", err)
	}
	return q, nil
}

// Policy returns the retry schedule in force (defaults filled in).
func (q *Queue) Policy() RetryPolicy { return q.policy }

// Now returns the queue clock's current time.
func (q *Queue) Now() time.Time { return q.now() }

// Store returns the metadata store the queue keeps its rows in.
func (q *Queue) Store() store.Store { return q.st }

// Enqueue stores m durably and returns its queue ID: when it returns without
// error the body is on stable storage and the rows are committed, so the
// caller may answer 250. Concurrent callers share the fsyncs: their bodies
// are written without one and synced as a group, then their rows are
// committed in one transaction (commit.go). On error nothing stays queued,
// except when ctx ends first: the message may then still be committed.
func (q *Queue) Enqueue(ctx context.Context, m Message) (string, error) {
	it, err := q.newItem(m)
	if err != nil {
		return "", err
	}
	if m.Body == nil {
		return "", fmt.Errorf("queue: enqueue: %w message: no body", ErrInvalid)
	}
	req := &enqueueReq{item: it}
	if pb, ok := q.blobs.(pendingBlobs); ok {
		p, err := pb.PutPending(ctx, m.Body)
		if err != nil {
			return "", fmt.Errorf("queue: enqueue: store body: %w", err)
		}
		req.body, it.BlobKey, it.Size = p, p.Key, p.Size
	} else {
		key, size, err := q.blobs.Put(ctx, m.Body)
		if err != nil {
			return "", fmt.Errorf("queue: enqueue: store body: %w", err)
		}
		it.BlobKey, it.Size = key, size
	}
	if err := q.submit(ctx, req); err != nil {
		return "", fmt.Errorf("queue: enqueue: %w", err)
	}
	return it.ID, nil
}

// newItem checks m's envelope and builds its row (without the blob).
func (q *Queue) newItem(m Message) (*store.QueueItem, error) {
	from := ""
	if m.From != "" {
		f, err := CanonicalAddress(m.From)
		if err != nil {
			return nil, fmt.Errorf("queue: enqueue: %w sender: %v", ErrInvalid, err)
		}
		from = f
	}
	if len(m.Recipients) == 0 {
		return nil, fmt.Errorf("queue: enqueue: %w message: no recipients", ErrInvalid)
	}
	id, err := NewID()
	if err != nil {
		return nil, fmt.Errorf("queue: enqueue: %w", err)
	}
	now := q.now().UTC().Round(0)
	it := &store.QueueItem{ID: id, Sender: from, UserID: m.UserID, IsDSN: m.IsDSN, SignDomain: strings.ToLower(m.SignDomain),
		NextAttempt: now, CreatedAt: now}
	seen := make(map[string]bool, len(m.Recipients))
	for _, r := range m.Recipients {
		addr, err := CanonicalAddress(r)
		if err != nil {
			return nil, fmt.Errorf("queue: enqueue: %w recipient: %v", ErrInvalid, err)
		}
		if seen[addr] {
			continue
		}
		seen[addr] = true
		it.Recipients = append(it.Recipients, store.QueueRecipient{Rcpt: addr, State: store.RecipientPending})
	}
	return it, nil
}

// NewID returns a fresh queue ID: 16 lower-case hex digits.
func NewID() (string, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("queue: new id: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// CheckID checks that id has the form NewID gives: 16 lower-case hex
// digits.
func CheckID(id string) error {
	if len(id) != 16 {
		return fmt.Errorf("%w queue id %q: want 16 hex digits", ErrInvalid, id)
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return fmt.Errorf("%w queue id %q: want 16 hex digits", ErrInvalid, id)
		}
	}
	return nil
}

// CanonicalAddress checks an envelope address (local@domain, without angle
// brackets) and returns it with the domain in lower case. The local part is
// kept as written (RFC 5321 2.4: it may be case-sensitive).
func CanonicalAddress(addr string) (string, error) {
	if len(addr) > 254 {
		return "", fmt.Errorf("address too long")
	}
	at := strings.LastIndexByte(addr, '@')
	if at <= 0 || at == len(addr)-1 {
		return "", fmt.Errorf("address %q: want local@domain", addr)
	}
	for _, c := range addr {
		if c <= ' ' || c == 0x7f || c == '<' || c == '>' {
			return "", fmt.Errorf("address %q: space, control character or angle bracket", addr)
		}
	}
	domain := strings.ToLower(addr[at+1:])
	if strings.ContainsAny(domain, "@[]") && !(strings.HasPrefix(domain, "[") && strings.HasSuffix(domain, "]")) {
		return "", fmt.Errorf("address %q: bad domain", addr)
	}
	return addr[:at] + "@" + domain, nil
}

// Domain returns the domain of an address checked by CanonicalAddress.
func Domain(addr string) string {
	return addr[strings.LastIndexByte(addr, '@')+1:]
}

// List returns every queued item, oldest first.
func (q *Queue) List(ctx context.Context) ([]Item, error) {
	rows, err := q.st.ListQueue(ctx)
	if err != nil {
		return nil, fmt.Errorf("queue: list: %w", err)
	}
	now := q.now()
	items := make([]Item, 0, len(rows))
	for _, r := range rows {
		items = append(items, itemOf(r, now))
	}
	sort.SliceStable(items, func(i, j int) bool { return items[i].Created.Before(items[j].Created) })
	return items, nil
}

// Item returns one queued item.
func (q *Queue) Item(ctx context.Context, id string) (Item, error) {
	r, err := q.st.QueueItem(ctx, id)
	if err != nil {
		return Item{}, fmt.Errorf("queue: item %s: %w", id, err)
	}
	return itemOf(r, q.now()), nil
}

func itemOf(r store.QueueItem, now time.Time) Item {
	it := Item{
		ID: r.ID, Created: r.CreatedAt, Age: now.Sub(r.CreatedAt), Size: r.Size, Sender: r.Sender,
		UserID: r.UserID, IsDSN: r.IsDSN, Attempts: r.Attempts, LastError: r.LastError, NextAttempt: r.NextAttempt,
	}
	switch {
	case r.Held:
		it.State = StateHeld
	case r.LeaseOwner != "" && r.LeaseUntil.After(now):
		it.State = StateActive
	case r.Attempts > 0:
		it.State = StateDeferred
	default:
		it.State = StateQueued
	}
	for _, rc := range r.Recipients {
		it.Recipients = append(it.Recipients, Recipient{
			Address: rc.Rcpt, State: rc.State, Attempts: rc.Attempts, LastDSN: rc.LastDSN,
			LastError: rc.LastError, LastAttempt: rc.LastAttempt,
		})
	}
	return it
}
