package accounts

import (
	"context"
	"errors"
	"runtime"
	"sync/atomic"
)

// hashLimiter bounds how many argon2id computations run at once. Each one
// holds about 19 MiB for its duration and keeps one core busy, so a storm of
// reconnecting clients would otherwise cost gigabytes and answer no faster:
// past one computation per core, more of them only share the same cores.
type hashLimiter struct {
	slots chan struct{}
	// running and peak count computations under way and the most ever seen
	// at once, for tests and for the reader of a memory profile.
	running, peak atomic.Int64
}

func newHashLimiter(n int) *hashLimiter {
	return &hashLimiter{slots: make(chan struct{}, n)}
}

// defaultMaxConcurrentHashes is the process-wide bound: one computation per
// core the Go scheduler uses, and at least two so that one slow client
// cannot hold every slot of a small machine.
func defaultMaxConcurrentHashes() int {
	return max(runtime.GOMAXPROCS(0), 2)
}

// processHashes is shared by every Service built without its own bound:
// the memory it protects belongs to the process, not to one Service.
var processHashes = newHashLimiter(defaultMaxConcurrentHashes())

// acquire waits for a slot until ctx ends. The error wraps ErrBusy and the
// context's error.
func (l *hashLimiter) acquire(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return busyError(err)
	}
	select {
	case l.slots <- struct{}{}:
	case <-ctx.Done():
		return busyError(ctx.Err())
	}
	n := l.running.Add(1)
	for {
		p := l.peak.Load()
		if n <= p || l.peak.CompareAndSwap(p, n) {
			break
		}
	}
	return nil
}

func (l *hashLimiter) release() {
	l.running.Add(-1)
	<-l.slots
}

func busyError(ctxErr error) error {
	return &kindError{
		kind: errors.Join(ErrBusy, ctxErr),
		msg:  "accounts: gave up waiting to check the password: " + ctxErr.Error(),
	}
}
