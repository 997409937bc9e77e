package accounts

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/cabalmail/cabalmail/internal/store/sqlite"
	xargon2 "golang.org/x/crypto/argon2"
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
	// One array kept per computation that ran alongside others, no more.
	if held, want := s.hashes.heldMemory(), int(s.hashes.peak.Load())*retainedMemory; held != want {
		t.Errorf("after the logins the slots hold %d bytes; want %d (%d arrays of %d)", held, want, s.hashes.peak.Load(), retainedMemory)
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
	mem, err := s.hashes.acquire(ctx) // the slot is taken by someone else
	if err != nil {
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
	s.hashes.release(mem)
	if _, err := s.Authenticate(ctx, "alice", "correct horse"); err != nil {
		t.Errorf("Authenticate with a free slot: %v", err)
	}
}

// TestSequentialLoginsKeepOneArray: one login after another reuses one
// array, however many slots there are.
func TestSequentialLoginsKeepOneArray(t *testing.T) {
	ctx := context.Background()
	s := newLimitedService(t, 4)
	if _, err := s.Add(ctx, "alice", "correct horse", false); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		pw := "correct horse"
		if i%2 == 1 {
			pw = "wrong horse"
		}
		_, _ = s.Authenticate(ctx, "alice", pw)
		_, _ = s.Authenticate(ctx, "nobody", pw)
	}
	if held := s.hashes.heldMemory(); held != retainedMemory {
		t.Errorf("after sequential logins the slots hold %d bytes; want one array of %d", held, retainedMemory)
	}
	if retainedMemory != argonMemory*1024 {
		t.Errorf("retainedMemory %d, want the %d KiB of the current parameters", retainedMemory, argonMemory)
	}
}

// TestLargeHashNotRetained verifies a stored hash whose memory cost is
// above the current parameters': it verifies, and its array is not kept.
func TestLargeHashNotRetained(t *testing.T) {
	const memory = 2*argonMemory + 100
	salt := []byte("a salt of 16 b.!")
	key := xargon2.IDKey([]byte("correct horse"), salt, 1, memory, 1, 32)
	enc := encodeHash(memory, 1, 1, salt, key)

	l := newHashLimiter(2)
	mem, err := l.acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ok, err := verifyPasswordIn(mem, enc, "correct horse")
	if err != nil || !ok {
		t.Fatalf("verifyPasswordIn(large hash) = %v, %v", ok, err)
	}
	if mem.Size() < memory*1024 {
		t.Fatalf("the large hash ran in %d bytes, below its %d KiB", mem.Size(), memory)
	}
	l.release(mem)
	if held := l.heldMemory(); held != 0 {
		t.Errorf("after a large hash the slots hold %d bytes; want the array dropped", held)
	}

	// A hash with the current parameters after it is kept.
	h, err := HashPassword("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	mem, err = l.acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := verifyPasswordIn(mem, h, "correct horse"); err != nil || !ok {
		t.Fatalf("verifyPasswordIn = %v, %v", ok, err)
	}
	l.release(mem)
	if held := l.heldMemory(); held != retainedMemory {
		t.Errorf("after a usual hash the slots hold %d bytes; want %d", held, retainedMemory)
	}
}

// TestVerifyAllocatesLittle checks what the reused arrays are for: once a
// slot has its array, checking a password allocates bytes, not 19 MiB.
func TestVerifyAllocatesLittle(t *testing.T) {
	h, err := HashPassword("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	const runs = 3
	for range runs {
		if ok, err := VerifyPassword(h, "correct horse"); !ok || err != nil {
			t.Fatal(ok, err)
		}
	}
	runtime.ReadMemStats(&after)
	if per := (after.TotalAlloc - before.TotalAlloc) / runs; per > 256<<10 {
		t.Errorf("VerifyPassword allocated %d bytes a call; want well under the %d of its array", per, retainedMemory)
	}
}

// TestConcurrentVerifyReusedMemory checks passwords with different
// parameters at once through the shared slots, so every array is reused
// for hashes of other sizes and other passwords; each answer must still be
// right (and go test -race watches the handing over of arrays).
func TestConcurrentVerifyReusedMemory(t *testing.T) {
	own, err := HashPassword("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		enc, pw string
		want    bool
	}{
		{own, "correct horse", true},
		{own, "correct horsE", false},
		{"$argon2id$v=19$m=64,t=1,p=2$c2FsdHNhbHRzYWx0$dhj8iExQzh3n6DdKIDZJLG4jEz/S8JXv", "pw-other-params", true},
		{"$argon2id$v=19$m=64,t=1,p=2$c2FsdHNhbHRzYWx0$dhj8iExQzh3n6DdKIDZJLG4jEz/S8JXv", "pw-other-paramz", false},
		{"$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHQwMTIzNDU2$V3TMHtYdnGDqc42fFQ1u4LzobNNDkH8a+R5hG8vjy18", "correct horse battery", true},
	}
	const rounds = 3
	errs := make(chan string, rounds*len(checks))
	var wg sync.WaitGroup
	for range rounds {
		for _, c := range checks {
			wg.Go(func() {
				if ok, err := VerifyPassword(c.enc, c.pw); ok != c.want || err != nil {
					errs <- fmt.Sprintf("VerifyPassword(%.40q, %q) = %v, %v; want %v", c.enc, c.pw, ok, err, c.want)
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if held, limit := processHashes.heldMemory(), cap(processHashes.slots)*retainedMemory; held > limit {
		t.Errorf("the process-wide slots hold %d bytes, above their bound of %d", held, limit)
	}
}
