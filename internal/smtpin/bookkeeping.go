package smtpin

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/cabalmail/cabalmail/internal/store"
)

// bookkeeper writes what follows a delivery but is not part of it, the
// per-address counters and the stored events, in the background and in
// batches: every flushEvery, or at once when flushAt items are waiting,
// all waiting counts go to the store in one transaction and all waiting
// events in another, instead of one transaction (one fsync, one turn of the
// write lock the group commit also needs) per item. The message itself is
// always stored before the reply; only this bookkeeping may trail it, by
// at most flushEvery plus one flush. close flushes what is left.
//
// Memory is bounded: a caller that finds maxWaiting items waiting flushes
// them itself before going on, so a slow store slows the sessions down
// rather than growing the backlog.
type bookkeeper struct {
	st  bookStore
	log *slog.Logger

	mu      sync.Mutex
	counts  map[string]*store.ReceivedCount // by address
	order   []string                        // addresses of counts, first seen first
	events  []*store.Event
	closed  bool
	flushMu sync.Mutex // one flush at a time, in order

	kick chan struct{}
	stop chan struct{}
	wg   sync.WaitGroup
}

// bookStore is what the bookkeeper writes to.
type bookStore interface {
	CountReceivedBatch(ctx context.Context, counts []store.ReceivedCount) ([]string, error)
	AddEvents(ctx context.Context, events []*store.Event) error
}

const (
	flushEvery   = 100 * time.Millisecond
	flushAt      = 256   // waiting items that start a flush at once
	maxWaiting   = 10000 // waiting items at which callers flush themselves
	flushTimeout = 10 * time.Second
)

func newBookkeeper(st bookStore, log *slog.Logger) *bookkeeper {
	b := &bookkeeper{
		st: st, log: log, counts: map[string]*store.ReceivedCount{},
		kick: make(chan struct{}, 1), stop: make(chan struct{}),
	}
	b.wg.Add(1)
	go b.run()
	return b
}

func (b *bookkeeper) run() {
	defer b.wg.Done()
	t := time.NewTicker(flushEvery)
	defer t.Stop()
	for {
		select {
		case <-b.stop:
			return
		case <-t.C:
		case <-b.kick:
		}
		b.flush()
	}
}

// countReceived queues one received message for address at time at.
func (b *bookkeeper) countReceived(address string, at time.Time) {
	b.add(func() {
		c := b.counts[address]
		if c == nil {
			c = &store.ReceivedCount{Address: address}
			b.counts[address] = c
			b.order = append(b.order, address)
		}
		c.N++
		if at.After(c.At) {
			c.At = at
		}
	})
}

// addEvent queues one event.
func (b *bookkeeper) addEvent(e *store.Event) {
	b.add(func() { b.events = append(b.events, e) })
}

// add runs queue (which appends an item) under the lock, then starts a
// flush if enough is waiting, or flushes at once when the bookkeeper is
// closed or the backlog is at its bound.
func (b *bookkeeper) add(queue func()) {
	b.mu.Lock()
	queue()
	n := len(b.order) + len(b.events)
	closed := b.closed
	b.mu.Unlock()
	switch {
	case closed || n >= maxWaiting:
		b.flush()
	case n >= flushAt:
		select {
		case b.kick <- struct{}{}:
		default:
		}
	}
}

// flush writes everything waiting.
func (b *bookkeeper) flush() {
	b.flushMu.Lock()
	defer b.flushMu.Unlock()
	b.mu.Lock()
	counts := make([]store.ReceivedCount, 0, len(b.order))
	for _, a := range b.order {
		counts = append(counts, *b.counts[a])
	}
	events := b.events
	b.counts, b.order, b.events = map[string]*store.ReceivedCount{}, nil, nil
	b.mu.Unlock()
	if len(counts) == 0 && len(events) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), flushTimeout)
	defer cancel()
	if len(counts) > 0 {
		unknown, err := b.st.CountReceivedBatch(ctx, counts)
		if err != nil {
			b.log.Warn("count received", "tier", tier, "addresses", len(counts), "err", err)
		}
		for _, a := range unknown {
			b.log.Warn("count received: address gone since the delivery", "tier", tier, "address", a)
		}
	}
	if len(events) > 0 {
		if err := b.st.AddEvents(ctx, events); err != nil {
			b.log.Warn("store events", "tier", tier, "events", len(events), "err", err)
		}
	}
}

// close stops the background flushes and writes what is waiting; later
// items are written at once by their callers.
func (b *bookkeeper) close() {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return
	}
	b.closed = true
	b.mu.Unlock()
	close(b.stop)
	b.wg.Wait()
	b.flush()
}
