package queue_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/cabalmail/cabalmail/internal/blob"
	"github.com/cabalmail/cabalmail/internal/queue"
	"github.com/cabalmail/cabalmail/internal/store"
	"github.com/cabalmail/cabalmail/internal/store/sqlite"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

type env struct {
	st    *sqlite.Store
	dir   string // the blob directory
	blobs *blob.Dir
	q     *queue.Queue
}

// newEnv opens a SQLite store, a blob directory and a queue over them.
// tune may change the queue's options (its Blobs, for one).
func newEnv(t testing.TB, tune func(*queue.Options)) *env {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	st, err := sqlite.Open(ctx, filepath.Join(dir, "cabalmail.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e := &env{st: st, dir: filepath.Join(dir, "queue")}
	if e.blobs, err = blob.OpenDir(e.dir); err != nil {
		t.Fatal(err)
	}
	opts := queue.Options{Store: st, Blobs: e.blobs, Logger: quiet(), Hostname: "smtp.example.test", SweepOrphansEvery: -1}
	if tune != nil {
		tune(&opts)
	}
	if e.q, err = queue.Open(ctx, opts); err != nil {
		t.Fatal(err)
	}
	return e
}

// keys lists the blobs in the queue's directory.
func (e *env) keys(t testing.TB) []string {
	t.Helper()
	var keys []string
	if err := e.blobs.Walk(context.Background(), func(key string, _ time.Time) error {
		keys = append(keys, key)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	sort.Strings(keys)
	return keys
}

// age sets a blob's time back by d, as if it had been stored d ago.
func (e *env) age(t testing.TB, key string, d time.Duration) {
	t.Helper()
	when := time.Now().Add(-d)
	if err := os.Chtimes(filepath.Join(e.dir, key[0:2], key[2:4], key), when, when); err != nil {
		t.Fatal(err)
	}
}

func message(i int) queue.Message {
	body := fmt.Sprintf("From: <alice@example.test>\r\nSubject: %d\r\n\r\nbody %d\r\n", i, i)
	return queue.Message{From: "alice@example.test", Recipients: []string{fmt.Sprintf("r%d@remote.test", i)}, Body: bytes.NewReader([]byte(body))}
}

func TestEnqueueConcurrent(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	const n = 64
	ids := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { ids[i], errs[i] = e.q.Enqueue(ctx, message(i)) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	items, err := e.q.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != n {
		t.Fatalf("%d items queued, want %d", len(items), n)
	}
	work, err := e.q.Claim(ctx, "w", time.Minute, 2*n)
	if err != nil {
		t.Fatal(err)
	}
	if len(work) != n {
		t.Fatalf("claimed %d, want %d", len(work), n)
	}
	var keys []string
	for _, w := range work {
		i := slices.Index(ids, w.ID)
		if i < 0 {
			t.Fatalf("claimed %s, which no Enqueue returned", w.ID)
		}
		if want := fmt.Sprintf("r%d@remote.test", i); len(w.Recipients) != 1 || w.Recipients[0] != want {
			t.Errorf("%s: recipients %q, want %q", w.ID, w.Recipients, want)
		}
		r, err := e.q.Body(ctx, w)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(r)
		r.Close()
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("Subject: %d\r\n\r\nbody %d\r\n", i, i); !bytes.HasSuffix(got, []byte(want)) || int64(len(got)) != w.Size {
			t.Errorf("%s: body %q (size %d), want one ending %q", w.ID, got, w.Size, want)
		}
		keys = append(keys, w.BlobKey)
	}
	sort.Strings(keys)
	if got := e.keys(t); !slices.Equal(got, keys) {
		t.Errorf("blobs on disk %q, want the %d queued ones", got, n)
	}
}

// syncWatcher is the blob directory with a check on each group sync: no
// row may name a body before the sync that makes it durable returns.
type syncWatcher struct {
	*blob.Dir
	st *sqlite.Store

	mu     sync.Mutex
	synced map[string]bool
	early  []string // keys a row named before their sync returned
}

func (w *syncWatcher) SyncPending(ctx context.Context, ps []*blob.Pending) error {
	rows, err := w.st.ListQueue(ctx)
	if err != nil {
		return err
	}
	w.mu.Lock()
	for _, r := range rows {
		for _, p := range ps {
			if r.BlobKey == p.Key {
				w.early = append(w.early, p.Key)
			}
		}
	}
	w.mu.Unlock()
	if err := w.Dir.SyncPending(ctx, ps); err != nil {
		return err
	}
	w.mu.Lock()
	for _, p := range ps {
		w.synced[p.Key] = true
	}
	w.mu.Unlock()
	return nil
}

// TestEnqueueSyncsBodiesBeforeRows checks the order of the group commit:
// every body is synced (in a group) before any row names it, and Enqueue
// returns only after both.
func TestEnqueueSyncsBodiesBeforeRows(t *testing.T) {
	var w *syncWatcher
	e := newEnv(t, func(o *queue.Options) {
		w = &syncWatcher{Dir: o.Blobs.(*blob.Dir), st: o.Store.(*sqlite.Store), synced: map[string]bool{}}
		o.Blobs = w
	})
	ctx := context.Background()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var unsynced []string
	for i := range 32 {
		wg.Go(func() {
			id, err := e.q.Enqueue(ctx, message(i))
			if err != nil {
				t.Error(err)
				return
			}
			it, err := e.st.QueueItem(ctx, id)
			if err != nil {
				t.Error(err)
				return
			}
			w.mu.Lock()
			ok := w.synced[it.BlobKey]
			w.mu.Unlock()
			if !ok {
				mu.Lock()
				unsynced = append(unsynced, it.BlobKey)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(w.early) > 0 {
		t.Errorf("rows named bodies before their sync: %q", w.early)
	}
	if len(unsynced) > 0 {
		t.Errorf("Enqueue returned before the sync of %q", unsynced)
	}
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("connection reset") }

func TestEnqueueFailureLeavesNothing(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	bad := []struct {
		name string
		m    queue.Message
		want error
	}{
		{"no recipients", queue.Message{From: "a@example.test", Body: bytes.NewReader([]byte("x\r\n"))}, queue.ErrInvalid},
		{"bad recipient", queue.Message{From: "a@example.test", Recipients: []string{"nobody"}, Body: bytes.NewReader([]byte("x\r\n"))}, queue.ErrInvalid},
		{"bad sender", queue.Message{From: "a b@example.test", Recipients: []string{"r@remote.test"}, Body: bytes.NewReader([]byte("x\r\n"))}, queue.ErrInvalid},
		{"no body", queue.Message{From: "a@example.test", Recipients: []string{"r@remote.test"}}, queue.ErrInvalid},
		{"body read fails", queue.Message{From: "a@example.test", Recipients: []string{"r@remote.test"}, Body: io.MultiReader(bytes.NewReader([]byte("x\r\n")), failingReader{})}, nil},
	}
	for _, c := range bad {
		_, err := e.q.Enqueue(ctx, c.m)
		if err == nil || (c.want != nil && !errors.Is(err, c.want)) {
			t.Errorf("%s: Enqueue error %v, want %v", c.name, err, c.want)
		}
	}
	if keys := e.keys(t); len(keys) != 0 {
		t.Errorf("refused messages left bodies %q", keys)
	}
	// A store that cannot commit the rows: the bodies, written and
	// synced already, are removed.
	e.st.Close()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			if id, err := e.q.Enqueue(ctx, message(i)); err == nil {
				t.Errorf("Enqueue on a closed store returned %s", id)
			}
		})
	}
	wg.Wait()
	if keys := e.keys(t); len(keys) != 0 {
		t.Errorf("failed enqueues left bodies %q", keys)
	}
}

func TestSweepOrphans(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	id, err := e.q.Enqueue(ctx, message(1))
	if err != nil {
		t.Fatal(err)
	}
	queued, err := e.st.QueueItem(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	put := func() string {
		key, _, err := e.blobs.Put(ctx, bytes.NewReader([]byte("orphan\r\n")))
		if err != nil {
			t.Fatal(err)
		}
		return key
	}
	oldOrphan, youngOrphan := put(), put()
	e.age(t, oldOrphan, 2*queue.OrphanAge)
	e.age(t, queued.BlobKey, 2*queue.OrphanAge) // a message deferred for long
	e.age(t, youngOrphan, queue.OrphanAge/2)    // maybe an Enqueue in flight

	if _, err := e.q.SweepOrphans(ctx, 0); !errors.Is(err, queue.ErrInvalid) {
		t.Errorf("SweepOrphans(0): %v, want ErrInvalid", err)
	}
	n, err := e.q.SweepOrphans(ctx, queue.OrphanAge)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{queued.BlobKey, youngOrphan}
	sort.Strings(want)
	if got := e.keys(t); n != 1 || !slices.Equal(got, want) {
		t.Errorf("swept %d, left %q; want 1 swept (%s), left %q", n, got, oldOrphan, want)
	}
	// The queued message is intact.
	w, err := e.q.Claim(ctx, "w", time.Minute, 10)
	if err != nil || len(w) != 1 || w[0].ID != id {
		t.Fatalf("claim after the sweep: %v, %v", w, err)
	}
	r, err := e.q.Body(ctx, w[0])
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	// Once finished, its body goes; had that removal been lost, the next
	// sweep would take it.
	if _, err := e.q.Finish(ctx, "w", []queue.Result{{Work: w[0], Outcomes: []queue.Outcome{{Rcpt: w[0].Recipients[0], Kind: queue.Delivered, DSN: "2.0.0"}}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.q.SweepOrphans(ctx, queue.OrphanAge); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for got := e.keys(t); !slices.Equal(got, []string{youngOrphan}); got = e.keys(t) {
		if time.Now().After(deadline) {
			t.Fatalf("after Finish and a sweep the blobs are %q, want only %s", got, youngOrphan)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestSweepOrphansKeepsMailboxBodies checks the guard against a blob
// directory shared with the mailbox store by mistake: a body a message
// row names is never removed.
func TestSweepOrphansKeepsMailboxBodies(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	key, size, err := e.blobs.Put(ctx, bytes.NewReader([]byte("Subject: kept\r\n\r\nx\r\n")))
	if err != nil {
		t.Fatal(err)
	}
	u := &store.User{Name: "bob", PasswordHash: "x", Status: store.UserActive}
	if err := e.st.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	box := &store.Mailbox{UserID: u.ID, Name: "INBOX"}
	if err := e.st.CreateMailbox(ctx, box); err != nil {
		t.Fatal(err)
	}
	added, err := e.st.AddMessages(ctx, []store.NewMessage{{UserID: u.ID, MailboxID: box.ID, BlobKey: key, MessageMeta: store.MessageMeta{Size: size, InternalDate: time.Now()}}})
	if err != nil || added[0].Err != nil {
		t.Fatal(err, added)
	}
	e.age(t, key, 2*queue.OrphanAge)
	if n, err := e.q.SweepOrphans(ctx, queue.OrphanAge); err != nil || n != 0 {
		t.Fatalf("SweepOrphans: %d, %v; want 0 removed", n, err)
	}
	if got := e.keys(t); !slices.Equal(got, []string{key}) {
		t.Errorf("blobs %q, want %s kept", got, key)
	}
}

// TestClaimSweeps checks that the delivery side's Claim runs the sweep.
func TestClaimSweeps(t *testing.T) {
	e := newEnv(t, func(o *queue.Options) { o.SweepOrphansEvery = time.Hour })
	ctx := context.Background()
	key, _, err := e.blobs.Put(ctx, bytes.NewReader([]byte("orphan\r\n")))
	if err != nil {
		t.Fatal(err)
	}
	e.age(t, key, 2*queue.OrphanAge)
	if _, err := e.q.Claim(ctx, "w", time.Minute, 1); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(e.keys(t)) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("Claim did not sweep the orphan %s", key)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// BenchmarkEnqueue measures Enqueue of 5 KB messages by 4 concurrent
// callers on a SQLite store, as the submission benchmark's clients do.
func BenchmarkEnqueue(b *testing.B) {
	e := newEnv(b, nil)
	ctx := context.Background()
	body := bytes.Repeat([]byte("abcdefghij0123456789abcdefghij0123456789abcdefghij0123456789abcdef\r\n"), 5*1024/68)
	var mu sync.Mutex
	var ds []time.Duration
	b.SetParallelism(2) // 4 callers on 2 cores
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			start := time.Now()
			if _, err := e.q.Enqueue(ctx, queue.Message{From: "a@example.test", Recipients: []string{"r@remote.test"}, Body: bytes.NewReader(body)}); err != nil {
				b.Error(err)
				return
			}
			d := time.Since(start)
			mu.Lock()
			ds = append(ds, d)
			mu.Unlock()
		}
	})
	b.StopTimer()
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	if len(ds) > 0 {
		b.ReportMetric(float64(ds[len(ds)/2].Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(ds[len(ds)*99/100].Microseconds())/1000, "p99-ms")
	}
}

// TestEnqueueOneRefusedRowFailsOnlyItself: a row the store refuses (its
// user does not exist) fails its own Enqueue, not those sharing its
// transaction, and leaves no body.
func TestEnqueueOneRefusedRowFailsOnlyItself(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	const n = 16
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			m := message(i)
			if i == 5 {
				m.UserID = 999 // no such user
			}
			_, errs[i] = e.q.Enqueue(ctx, m)
		})
	}
	wg.Wait()
	for i, err := range errs {
		if (err != nil) != (i == 5) {
			t.Errorf("Enqueue %d: %v", i, err)
		}
	}
	items, err := e.q.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != n-1 || len(e.keys(t)) != n-1 {
		t.Errorf("%d items and %d bodies, want %d of each", len(items), len(e.keys(t)), n-1)
	}
}

// brokenSync is the blob directory on a disk whose fsyncs fail.
type brokenSync struct{ *blob.Dir }

func (b brokenSync) SyncPending(ctx context.Context, ps []*blob.Pending) error {
	return errors.New("fsync: input/output error")
}

// TestEnqueueSyncFailure: bodies that could not be made durable are not
// queued, and are removed.
func TestEnqueueSyncFailure(t *testing.T) {
	e := newEnv(t, func(o *queue.Options) { o.Blobs = brokenSync{o.Blobs.(*blob.Dir)} })
	ctx := context.Background()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			if id, err := e.q.Enqueue(ctx, message(i)); err == nil {
				t.Errorf("Enqueue with failing fsyncs returned %s", id)
			}
		})
	}
	wg.Wait()
	items, err := e.q.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 0 || len(e.keys(t)) != 0 {
		t.Errorf("%d items and bodies %q left", len(items), e.keys(t))
	}
}
