package blob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
)

// TestPendingSyncSteps checks that SyncPending fsyncs every file and, once,
// every directory holding a new entry (the files' directories and, for new
// leaf directories, their parents, but not the root, whose entries OpenDir
// made durable), and that the blobs read back.
func TestPendingSyncSteps(t *testing.T) {
	d := openTestDir(t)
	d.syncFS = nil // the fsync-per-file path; syncfs has its own test
	checkPendingSyncSteps(t, d)
}

// TestPendingSyncfsFailureFallsBack: when syncfs fails, each file and
// directory is fsynced as without it.
func TestPendingSyncfsFailureFallsBack(t *testing.T) {
	d := openTestDir(t)
	calls := 0
	d.syncFS = func() error { calls++; return errors.New("injected syncfs failure") }
	checkPendingSyncSteps(t, d)
	if calls != 1 {
		t.Errorf("syncfs called %d times, want 1", calls)
	}
}

// TestPendingSyncfs: on Linux 5.8 or later a group of pending blobs is
// made durable by one syncfs of the store's filesystem, with no fsync per
// file, and reads back; a single blob is still fsynced with its
// directories.
func TestPendingSyncfs(t *testing.T) {
	d := openTestDir(t)
	if d.syncFS == nil {
		t.Skip("syncfs(2) is not trusted on this system (Linux 5.8 or later only)")
	}
	ctx := context.Background()
	var steps []string
	d.step = func(name, path string) {
		if name != "create" {
			steps = append(steps, name+" "+path)
		}
	}
	var ps []*Pending
	for i := range 4 {
		p, err := d.PutPending(ctx, strings.NewReader(fmt.Sprintf("body %d", i)))
		if err != nil {
			t.Fatal(err)
		}
		ps = append(ps, p)
	}
	if err := d.SyncPending(ctx, ps); err != nil {
		t.Fatal(err)
	}
	if len(steps) != 1 || steps[0] != "syncfs "+d.root {
		t.Fatalf("steps %q, want one syncfs of the root", steps)
	}
	for _, p := range ps {
		if p.f != nil {
			t.Errorf("file of %s left open", p.Key)
		}
	}
	checkBodies(t, d, ps)
	if err := d.SyncPending(ctx, ps[:2]); err == nil {
		t.Error("second SyncPending of the same blobs succeeded")
	}
	// The leaves are known durable now: a new blob in one needs no
	// parent fsync.
	_, leaf := d.path(ps[0].Key)
	d.mu.Lock()
	ready := d.ready[leaf]
	d.mu.Unlock()
	if !ready {
		t.Errorf("leaf %s not marked durable after syncfs", leaf)
	}
	steps = nil
	one, err := d.PutPending(ctx, strings.NewReader("alone"))
	if err != nil {
		t.Fatal(err)
	}
	if err := d.SyncPending(ctx, []*Pending{one}); err != nil {
		t.Fatal(err)
	}
	file, _ := d.path(one.Key)
	if !slices.Contains(steps, "fsync "+file) || slices.ContainsFunc(steps, func(s string) bool { return strings.HasPrefix(s, "syncfs") }) {
		t.Errorf("a single blob: steps %q, want its own fsync and no syncfs", steps)
	}
}

// checkPendingSyncSteps checks that SyncPending fsyncs every file and
// every directory holding a new entry once.
func checkPendingSyncSteps(t *testing.T, d *Dir) {
	t.Helper()
	ctx := context.Background()
	var mu sync.Mutex
	var steps [][2]string
	d.step = func(name, path string) {
		mu.Lock()
		steps = append(steps, [2]string{name, path})
		mu.Unlock()
	}
	var ps []*Pending
	for i := range 5 {
		p, err := d.PutPending(ctx, strings.NewReader(fmt.Sprintf("body %d", i)))
		if err != nil {
			t.Fatal(err)
		}
		if p.Size != int64(len(fmt.Sprintf("body %d", i))) {
			t.Errorf("size %d", p.Size)
		}
		ps = append(ps, p)
	}
	if len(steps) != 5 {
		t.Fatalf("steps before sync: %v, want 5 creates", steps)
	}
	steps = nil
	if err := d.SyncPending(ctx, ps); err != nil {
		t.Fatal(err)
	}
	fsynced := map[string]bool{}
	dirs := map[string]bool{}
	for _, s := range steps {
		switch s[0] {
		case "fsync":
			if fsynced[s[1]] {
				t.Errorf("file %s fsynced twice", s[1])
			}
			fsynced[s[1]] = true
		case "fsync-dir":
			if dirs[s[1]] {
				t.Errorf("directory %s fsynced twice", s[1])
			}
			dirs[s[1]] = true
		default:
			t.Errorf("unexpected step %v", s)
		}
	}
	for _, p := range ps {
		file, leaf := d.path(p.Key)
		if !fsynced[file] {
			t.Errorf("file of %s not fsynced", p.Key)
		}
		// All leaves are new in a fresh store.
		for _, dir := range []string{leaf, filepath.Dir(leaf)} {
			if !dirs[dir] {
				t.Errorf("directory %s not fsynced", dir)
			}
		}
	}
	if dirs[d.root] {
		t.Error("root fsynced, though OpenDir made its entries durable")
	}
	checkBodies(t, d, ps)
	if err := d.SyncPending(ctx, ps[:1]); err == nil {
		t.Error("second SyncPending of the same blob succeeded")
	}

}

func TestPendingDiscardAndFailures(t *testing.T) {
	d := openTestDir(t)
	ctx := context.Background()
	p, err := d.PutPending(ctx, strings.NewReader("unwanted"))
	if err != nil {
		t.Fatal(err)
	}
	if ks := keys(t, d); !slices.Equal(ks, []string{p.Key}) {
		t.Errorf("blobs %v, want the pending one", ks)
	}
	d.DiscardPending(p)
	if ks := keys(t, d); len(ks) != 0 {
		t.Errorf("blobs left after discard: %v", ks)
	}
	if err := d.SyncPending(ctx, []*Pending{p}); err == nil {
		t.Error("SyncPending of a discarded blob succeeded")
	}

	// A synced blob can be discarded too (its row was not committed).
	q, err := d.PutPending(ctx, strings.NewReader("kept, then not"))
	if err != nil {
		t.Fatal(err)
	}
	if err := d.SyncPending(ctx, []*Pending{q}); err != nil {
		t.Fatal(err)
	}
	d.DiscardPending(q)
	if _, err := d.Open(ctx, q.Key); !errors.Is(err, ErrNotFound) {
		t.Errorf("open after discard: %v, want ErrNotFound", err)
	}

	if _, err := d.PutPending(ctx, &failingReader{n: 2}); err == nil || !strings.Contains(err.Error(), "connection reset") {
		t.Errorf("failing reader: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	if _, err := d.PutPending(cctx, cancellingReader{cancel}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v, want context.Canceled", err)
	}
	if err := d.SyncPending(cctx, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("sync with a cancelled context: %v", err)
	}
	if ks := keys(t, d); len(ks) != 0 {
		t.Errorf("blobs left after failed writes: %v", ks)
	}
}

func BenchmarkPendingParallel(b *testing.B) {
	d := openTestDir(b)
	ctx := context.Background()
	body := strings.Repeat("x", 5120)
	const group = 16
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		ps := make([]*Pending, group)
		var wg sync.WaitGroup
		for i := range ps {
			wg.Go(func() {
				p, err := d.PutPending(ctx, strings.NewReader(body))
				if err != nil {
					b.Error(err)
					return
				}
				ps[i] = p
			})
		}
		wg.Wait()
		if err := d.SyncPending(ctx, ps); err != nil {
			b.Fatal(err)
		}
	}
}

// TestFanOutDirSyncs: OpenDir makes the first level; a put into a new
// leaf fsyncs the leaf and its parent, a put into a leaf known durable (by
// this Dir or found by a later OpenDir) fsyncs only the leaf, and a first
// level removed behind the Dir's back is made again with the root fsynced.
func TestFanOutDirSyncs(t *testing.T) {
	root := filepath.Join(t.TempDir(), "blobs")
	d, err := OpenDir(root)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 256 {
		if info, err := os.Stat(filepath.Join(d.root, fmt.Sprintf("%02x", i))); err != nil || !info.IsDir() {
			t.Fatalf("first-level directory %02x: %v", i, err)
		}
	}
	ctx := context.Background()
	// put stores a blob under key with PutPending+SyncPending and Put,
	// and returns the directories each fsynced.
	put := func(d *Dir, pendingKey, putKey string) (pending, direct []string) {
		t.Helper()
		var mu sync.Mutex
		var got *[]string
		d.step = func(name, path string) {
			if name == "fsync-dir" || name == "fsync-parent" {
				mu.Lock()
				*got = append(*got, path)
				mu.Unlock()
			}
		}
		defer func() { d.step = nil }()
		got = &pending
		d.key = func() (string, error) { return pendingKey, nil }
		p, err := d.PutPending(ctx, strings.NewReader("body"))
		if err != nil {
			t.Fatal(err)
		}
		if err := d.SyncPending(ctx, []*Pending{p}); err != nil {
			t.Fatal(err)
		}
		got = &direct
		d.key = func() (string, error) { return putKey, nil }
		if _, _, err := d.Put(ctx, strings.NewReader("body")); err != nil {
			t.Fatal(err)
		}
		return pending, direct
	}
	key := func(leaf string, n int) string { return leaf + fmt.Sprintf("%028x", n) }
	leaf := func(k string) string { _, l := d.path(k); return l }
	mid := func(k string) string { return filepath.Dir(leaf(k)) }

	// New leaves: the leaf and its parent.
	a, b := key("abcd", 1), key("1234", 1)
	pending, direct := put(d, a, b)
	if want := []string{leaf(a), mid(a)}; !sameSet(pending, want) {
		t.Errorf("new leaf, pending: fsynced %v, want %v", pending, want)
	}
	if want := []string{mid(b), leaf(b)}; !sameSet(direct, want) {
		t.Errorf("new leaf, Put: fsynced %v, want %v", direct, want)
	}
	// The same leaves again: only the leaf.
	pending, direct = put(d, key("abcd", 2), key("1234", 2))
	if want := []string{leaf(a)}; !sameSet(pending, want) {
		t.Errorf("known leaf, pending: fsynced %v, want %v", pending, want)
	}
	if want := []string{leaf(b)}; !sameSet(direct, want) {
		t.Errorf("known leaf, Put: fsynced %v, want %v", direct, want)
	}

	// A second Dir on the same root finds the leaves and needs no parent
	// fsync for them, but does for a leaf it creates.
	d2, err := OpenDir(root)
	if err != nil {
		t.Fatal(err)
	}
	pending, direct = put(d2, key("abcd", 3), key("1234", 3))
	if want := []string{leaf(a)}; !sameSet(pending, want) {
		t.Errorf("reopened, pending: fsynced %v, want %v", pending, want)
	}
	if want := []string{leaf(b)}; !sameSet(direct, want) {
		t.Errorf("reopened, Put: fsynced %v, want %v", direct, want)
	}
	c, e := key("abce", 1), key("1235", 1)
	pending, direct = put(d2, c, e)
	if want := []string{leaf(c), mid(c)}; !sameSet(pending, want) {
		t.Errorf("reopened, new leaf, pending: fsynced %v, want %v", pending, want)
	}
	if want := []string{mid(e), leaf(e)}; !sameSet(direct, want) {
		t.Errorf("reopened, new leaf, Put: fsynced %v, want %v", direct, want)
	}

	// A first level removed behind the Dir's back is made again, and the
	// root is fsynced with it.
	if err := os.Remove(filepath.Join(d.root, "ff")); err != nil {
		t.Fatal(err)
	}
	f, g := key("ff00", 1), key("ff01", 1)
	pending, _ = put(d2, f, g)
	if want := []string{d.root, leaf(f), mid(f)}; !sameSet(pending, want) {
		t.Errorf("removed first level, pending: fsynced %v, want %v", pending, want)
	}
	for _, k := range []string{a, b, c, e, f, g, key("abcd", 2), key("1234", 3)} {
		r, err := d2.Open(ctx, k)
		if err != nil {
			t.Fatalf("open %s: %v", k, err)
		}
		_ = r.Close()
	}
}

// sameSet reports whether a and b hold the same strings, in any order.
func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// TestPutPendingAllocs: a put does not allocate a copy buffer (32 KiB
// before the pool); what it allocates is far smaller.
func TestPutPendingAllocs(t *testing.T) {
	d := openTestDir(t)
	ctx := context.Background()
	body := strings.Repeat("x", 100<<10)
	put := func() {
		p, err := d.PutPending(ctx, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		d.DiscardPending(p)
	}
	put() // fills the pool
	const n = 20
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for range n {
		put()
	}
	runtime.ReadMemStats(&after)
	if per := (after.TotalAlloc - before.TotalAlloc) / n; per > 8<<10 {
		t.Errorf("PutPending allocates %d bytes per call", per)
	}
}

// checkBodies reads each of ps back and wants "body i" in the i-th.
func checkBodies(t *testing.T, d *Dir, ps []*Pending) {
	t.Helper()
	for i, p := range ps {
		r, err := d.Open(context.Background(), p.Key)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(r)
		_ = r.Close()
		if want := fmt.Sprintf("body %d", i); string(got) != want {
			t.Errorf("read %q, want %q", got, want)
		}
	}
}
