package accounts

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/cabalmail/cabalmail/internal/store/sqlite"
)

func newLimitedService(t *testing.T, maxHashes int) *Service {
	t.Helper()
	st, err := sqlite.Open(context.Background(), t.TempDir()+"/meta.db")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return NewWithOptions(st, Options{MaxConcurrentHashes: maxHashes})
}

func TestDefaultHashLimitIsProcessWide(t *testing.T) {
	a, _ := newService(t)
	c, _ := newService(t)
	if a.hashes != processHashes || c.hashes != processHashes {
		t.Error("services built by New do not share the process-wide hashing limit")
	}
	if got, want := cap(processHashes.slots), max(runtime.GOMAXPROCS(0), 2); got != want {
		t.Errorf("process-wide hashing limit %d, want %d", got, want)
	}
	if own := newLimitedService(t, 3); own.hashes == processHashes || cap(own.hashes.slots) != 3 {
		t.Error("Options.MaxConcurrentHashes did not give the service its own limit")
	}
}

// TestConcurrentAuthenticateCapped runs more logins than slots, known and
// unknown users and wrong passwords mixed, and checks that no more hashes
// ran at once than the bound while every login still got its answer.
func TestConcurrentAuthenticateCapped(t *testing.T) {
	ctx := context.Background()
	const limit = 2
	s := newLimitedService(t, limit)
	if _, err := s.Add(ctx, "alice", "correct horse", false); err != nil {
		t.Fatal(err)
	}
	// Add hashed once; start counting from the logins.
	s.hashes.peak.Store(0)
	type attempt struct {
		name, pw string
		want     error // nil: success
	}
	attempts := []attempt{
		{"alice", "correct horse", nil},
		{"alice", "wrong horse", ErrBadCredentials},
		{"nobody", "correct horse", ErrBadCredentials},
	}
	const n = 9
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a := attempts[i%len(attempts)]
			_, errs[i] = s.Authenticate(ctx, a.name, a.pw)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		want := attempts[i%len(attempts)].want
		if (want == nil && err != nil) || (want != nil && !errors.Is(err, want)) {
			t.Errorf("login %d: %v, want %v", i, err, want)
		}
	}
	if p := s.hashes.peak.Load(); p > limit {
		t.Errorf("%d hashes ran at once; the limit is %d", p, limit)
	} else if p < limit {
		t.Errorf("at most %d hashes ran at once; %d logins should have filled the %d slots", p, n, limit)
	}
	if r := s.hashes.running.Load(); r != 0 || len(s.hashes.slots) != 0 {
		t.Errorf("after the logins %d hashes are counted running and %d slots held", r, len(s.hashes.slots))
	}
}

// TestAuthenticateBusy fills every slot and checks that a login whose
// context ends while waiting returns promptly with ErrBusy (and the
// context's error), the same for a known and an unknown user, and never
// ErrBadCredentials.
func TestAuthenticateBusy(t *testing.T) {
	ctx := context.Background()
	s := newLimitedService(t, 1)
	if _, err := s.Add(ctx, "alice", "correct horse", false); err != nil {
		t.Fatal(err)
	}
	if err := s.hashes.acquire(ctx); err != nil { // the slot is taken by someone else
		t.Fatal(err)
	}
	for _, name := range []string{"alice", "nobody"} {
		tctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		start := time.Now()
		_, err := s.Authenticate(tctx, name, "correct horse")
		cancel()
		if !errors.Is(err, ErrBusy) || !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrBadCredentials) {
			t.Errorf("Authenticate(%s) with every slot taken = %v; want ErrBusy and DeadlineExceeded", name, err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("Authenticate(%s) took %s to give up", name, d)
		}
	}
	// Cancelled while waiting for the slot.
	cctx, cancel := context.WithCancel(ctx)
	time.AfterFunc(30*time.Millisecond, cancel)
	if _, err := s.Authenticate(cctx, "alice", "correct horse"); !errors.Is(err, ErrBusy) || !errors.Is(err, context.Canceled) {
		t.Errorf("Authenticate cancelled while waiting = %v; want ErrBusy and Canceled", err)
	}
	// Cancelled before it starts: the store refuses first; still not a
	// credentials answer.
	if _, err := s.Authenticate(cctx, "alice", "correct horse"); !errors.Is(err, context.Canceled) || errors.Is(err, ErrBadCredentials) {
		t.Errorf("Authenticate with a cancelled context = %v; want Canceled", err)
	}
	tctx, cancel := context.WithTimeout(ctx, 30*time.Millisecond)
	defer cancel()
	if err := s.SetPassword(tctx, "alice", "another horse"); !errors.Is(err, ErrBusy) {
		t.Errorf("SetPassword with every slot taken = %v; want ErrBusy", err)
	}
	// Once the slot is free, the same login goes through.
	s.hashes.release()
	if _, err := s.Authenticate(ctx, "alice", "correct horse"); err != nil {
		t.Errorf("Authenticate with a free slot: %v", err)
	}
}
