package smtpin

import (
	"context"
	"sync"
	"time"
)

// bookkeeper writes what follows a delivery but is not part of it, the
// per-address counters and the stored events, in the background, so that
// these extra store writes do not sit between the durable delivery and the
// 250 reply. The message itself is always stored before the reply; only
// this bookkeeping may trail it, by the length of the queue.
type bookkeeper struct {
	jobs chan func(context.Context)
	wg   sync.WaitGroup

	mu     sync.RWMutex
	closed bool
}

const bookQueue = 10000

func newBookkeeper() *bookkeeper {
	b := &bookkeeper{jobs: make(chan func(context.Context), bookQueue)}
	b.wg.Add(1)
	go b.run()
	return b
}

func (b *bookkeeper) run() {
	defer b.wg.Done()
	for job := range b.jobs {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		job(ctx)
		cancel()
	}
}

// do queues job; when the queue is full it runs it at once instead, so
// nothing is dropped and a slow store slows the sessions down.
func (b *bookkeeper) do(job func(context.Context)) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.closed {
		b.runNow(job)
		return
	}
	select {
	case b.jobs <- job:
	default:
		b.runNow(job)
	}
}

func (b *bookkeeper) runNow(job func(context.Context)) {
	{
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		job(ctx)
	}
}

// close finishes the queued jobs.
func (b *bookkeeper) close() {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return
	}
	b.closed = true
	close(b.jobs)
	b.mu.Unlock()
	b.wg.Wait()
}
