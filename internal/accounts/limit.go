package accounts

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/cabalmail/cabalmail/internal/accounts/internal/argon2"
)

// hashLimiter bounds how many argon2id computations run at once, and owns
// the memory they run in. Each one holds about 19 MiB for its duration and
// keeps one core busy, so a storm of reconnecting clients would otherwise
// cost gigabytes and answer no faster: past one computation per core, more
// of them only share the same cores.
//
// Each computation runs in an argon2.Memory that the limiter keeps for the
// next one, so a password check leaves no 19 MiB array behind for the
// garbage collector. The limiter hands out the most recently used Memory
// first and makes a Memory's array only when it is first used, so it holds
// one array per computation that ever ran at the same time as others: at
// most n arrays of the current parameters' size (n × 19 MiB) for a limiter
// of n slots, and only one on a server that checks one password at a time.
type hashLimiter struct {
	// slots holds a token for every slot in use: cap(slots) is the bound.
	slots chan struct{}
	// mu guards free, the Memory of every free slot, the most recently
	// used last. A holder of a slot always finds one there.
	mu   sync.Mutex
	free []*argon2.Memory
	// running and peak count computations under way and the most ever seen
	// at once, for tests and for the reader of a memory profile.
	running, peak atomic.Int64
}

func newHashLimiter(n int) *hashLimiter {
	l := &hashLimiter{slots: make(chan struct{}, n), free: make([]*argon2.Memory, n)}
	for i := range l.free {
		l.free[i] = new(argon2.Memory) // holds nothing until first used
	}
	return l
}

// retainedMemory is the largest array a slot keeps between computations:
// the size of a hash with the current parameters. A stored hash with a
// larger memory cost (up to maxMemory) still verifies, in an array of its
// own that the slot drops afterwards, so such rows cannot pin memory.
var retainedMemory = argon2.MemorySize(argonMemory, argonThreads)

// defaultMaxConcurrentHashes is the process-wide bound: one computation per
// core the Go scheduler uses, and at least two so that one slow client
// cannot hold every slot of a small machine.
func defaultMaxConcurrentHashes() int {
	return max(runtime.GOMAXPROCS(0), 2)
}

// processHashes is shared by every Service built without its own bound,
// and by HashPassword and VerifyPassword: the memory it protects belongs to
// the process, not to one Service.
var processHashes = newHashLimiter(defaultMaxConcurrentHashes())

// acquire waits for a slot until ctx ends and returns the slot's Memory,
// which belongs to the caller until it hands it back to release. The error
// wraps ErrBusy and the context's error.
func (l *hashLimiter) acquire(ctx context.Context) (*argon2.Memory, error) {
	if err := ctx.Err(); err != nil {
		return nil, busyError(err)
	}
	select {
	case l.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, busyError(ctx.Err())
	}
	l.mu.Lock()
	mem := l.free[len(l.free)-1]
	l.free = l.free[:len(l.free)-1]
	l.mu.Unlock()
	n := l.running.Add(1)
	for {
		p := l.peak.Load()
		if n <= p || l.peak.CompareAndSwap(p, n) {
			break
		}
	}
	return mem, nil
}

// release frees the slot mem came from, dropping mem's array first if a
// hash with unusual parameters grew it past retainedMemory.
func (l *hashLimiter) release(mem *argon2.Memory) {
	if mem.Size() > retainedMemory {
		mem.Release()
	}
	l.running.Add(-1)
	l.mu.Lock()
	l.free = append(l.free, mem)
	l.mu.Unlock()
	<-l.slots
}

// heldMemory returns the bytes of arrays the free slots hold, for tests
// and for the reader of a memory profile.
func (l *hashLimiter) heldMemory() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	total := 0
	for _, mem := range l.free {
		total += mem.Size()
	}
	return total
}

func busyError(ctxErr error) error {
	return &kindError{
		kind: errors.Join(ErrBusy, ctxErr),
		msg:  "accounts: gave up waiting to check the password: " + ctxErr.Error(),
	}
}
