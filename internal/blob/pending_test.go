package blob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

// TestPendingSyncSteps checks that SyncPending fsyncs every file and, once,
// every directory holding a new entry (the files' directories and, for new
// fan-out directories, their parents), and that the blobs read back.
func TestPendingSyncSteps(t *testing.T) {
	d := openTestDir(t)
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
		// All fan-out directories are new in a fresh store.
		for _, dir := range []string{leaf, filepath.Dir(leaf), d.root} {
			if !dirs[dir] {
				t.Errorf("directory %s not fsynced", dir)
			}
		}
	}
	for i, p := range ps {
		r, err := d.Open(ctx, p.Key)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(r)
		_ = r.Close()
		if want := fmt.Sprintf("body %d", i); string(got) != want {
			t.Errorf("read %q, want %q", got, want)
		}
	}
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
