package blob

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func openTestDir(t testing.TB) *Dir {
	t.Helper()
	d, err := OpenDir(filepath.Join(t.TempDir(), "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// keys lists the blobs in d.
func keys(t *testing.T, d *Dir) []string {
	t.Helper()
	var ks []string
	if err := d.Walk(context.Background(), func(k string, _ time.Time) error {
		ks = append(ks, k)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	slices.Sort(ks)
	return ks
}

func tempFiles(t *testing.T, d *Dir) int {
	t.Helper()
	es, err := os.ReadDir(d.tmp)
	if err != nil {
		t.Fatal(err)
	}
	return len(es)
}

func TestPutOpenDelete(t *testing.T) {
	ctx := context.Background()
	d := openTestDir(t)
	body := []byte("From: a@example.test\r\n\r\nhello\r\n")
	key, size, err := d.Put(ctx, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if !ValidKey(key) || size != int64(len(body)) {
		t.Fatalf("Put = %q, %d", key, size)
	}

	file := filepath.Join(d.root, key[:2], key[2:4], key)
	for p, want := range map[string]os.FileMode{file: 0o600, filepath.Dir(file): 0o700 | os.ModeDir, d.root: 0o700 | os.ModeDir} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != want {
			t.Errorf("%s: mode %v, want %v", p, fi.Mode(), want)
		}
	}

	r, err := d.Open(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if r.Size() != size {
		t.Errorf("Size %d", r.Size())
	}
	got, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(got, body) {
		t.Errorf("read %q, %v", got, err)
	}
	part := make([]byte, 5)
	if _, err := r.ReadAt(part, int64(len(body))-7); err != nil || string(part) != "hello" {
		t.Errorf("ReadAt: %q, %v", part, err)
	}
	if pos, err := r.Seek(-7, io.SeekEnd); err != nil || pos != int64(len(body))-7 {
		t.Errorf("Seek: %d, %v", pos, err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}

	if err := d.Delete(ctx, key); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Open(ctx, key); !errors.Is(err, ErrNotFound) {
		t.Errorf("Open after Delete: %v, want ErrNotFound", err)
	}
	if err := d.Delete(ctx, key); !errors.Is(err, ErrNotFound) {
		t.Errorf("second Delete: %v, want ErrNotFound", err)
	}

	// An empty blob is a blob.
	key, size, err = d.Put(ctx, strings.NewReader(""))
	if err != nil || size != 0 {
		t.Fatalf("empty Put: %d, %v", size, err)
	}
	if r, err := d.Open(ctx, key); err != nil || r.Size() != 0 {
		t.Errorf("empty Open: %v", err)
	} else {
		_ = r.Close()
	}
}

// TestPutDurabilitySteps checks the order of the steps, and that nothing is
// visible under the key before the data is fsynced and renamed.
func TestPutDurabilitySteps(t *testing.T) {
	d := openTestDir(t)
	var steps []string
	d.step = func(name, path string) {
		steps = append(steps, name)
		if name != "rename" && name != "fsync-dir" && name != "fsync-parent" {
			if ks := keys(t, d); len(ks) != 0 {
				t.Errorf("at step %s, blobs already visible: %v", name, ks)
			}
		}
	}
	key, _, err := d.Put(context.Background(), strings.NewReader("body"))
	if err != nil {
		t.Fatal(err)
	}
	// A fresh store has the first fan-out level already: the new leaf's
	// parent is fsynced, not the root.
	if want := []string{"create", "fsync", "fsync-parent", "rename", "fsync-dir"}; !slices.Equal(steps, want) {
		t.Errorf("steps %v, want %v", steps, want)
	}
	if ks := keys(t, d); !slices.Equal(ks, []string{key}) {
		t.Errorf("blobs %v, want [%s]", ks, key)
	}
	if n := tempFiles(t, d); n != 0 {
		t.Errorf("%d temporary files left", n)
	}
}

// blockingReader gives its first chunk, then waits for release.
type blockingReader struct {
	first   []byte
	reached chan struct{}
	release chan struct{}
	rest    io.Reader
}

func (b *blockingReader) Read(p []byte) (int, error) {
	if b.first != nil {
		n := copy(p, b.first)
		b.first = nil
		return n, nil
	}
	if b.reached != nil {
		close(b.reached)
		b.reached = nil
		<-b.release
	}
	return b.rest.Read(p)
}

func TestPutInProgressInvisible(t *testing.T) {
	d := openTestDir(t)
	br := &blockingReader{first: []byte("part one "), reached: make(chan struct{}), release: make(chan struct{}),
		rest: strings.NewReader("part two")}
	reached := br.reached
	done := make(chan error, 1)
	var key string
	go func() {
		var err error
		key, _, err = d.Put(context.Background(), br)
		done <- err
	}()
	<-reached
	if ks := keys(t, d); len(ks) != 0 {
		t.Errorf("half-written blob visible: %v", ks)
	}
	if n := tempFiles(t, d); n != 1 {
		t.Errorf("%d temporary files while writing, want 1", n)
	}
	close(br.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	r, err := d.Open(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = r.Close() }()
	if got, _ := io.ReadAll(r); string(got) != "part one part two" {
		t.Errorf("read %q", got)
	}
}

type failingReader struct{ n int }

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n == 0 {
		return 0, errors.New("connection reset")
	}
	f.n--
	return copy(p, "chunk"), nil
}

type cancellingReader struct {
	cancel context.CancelFunc
}

func (c cancellingReader) Read(p []byte) (int, error) {
	c.cancel()
	return copy(p, "some data"), nil
}

func TestPutFailureLeavesNothing(t *testing.T) {
	d := openTestDir(t)
	if _, _, err := d.Put(context.Background(), &failingReader{n: 3}); err == nil || !strings.Contains(err.Error(), "connection reset") {
		t.Errorf("failing reader: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if _, _, err := d.Put(ctx, cancellingReader{cancel}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v, want context.Canceled", err)
	}
	if _, _, err := d.Put(ctx, strings.NewReader("x")); !errors.Is(err, context.Canceled) {
		t.Errorf("already cancelled: %v, want context.Canceled", err)
	}
	if ks := keys(t, d); len(ks) != 0 {
		t.Errorf("blobs left: %v", ks)
	}
	if n := tempFiles(t, d); n != 0 {
		t.Errorf("%d temporary files left", n)
	}
}

func TestBadKeys(t *testing.T) {
	ctx := context.Background()
	d := openTestDir(t)
	// A file a traversal would reach, which must survive.
	victim := filepath.Join(filepath.Dir(d.root), "victim")
	if err := os.WriteFile(victim, []byte("keep"), 0o600); err != nil {
		t.Fatal(err)
	}
	good, _, err := d.Put(ctx, strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{
		"", "tmp", "..", "../victim", "../../victim", "/etc/passwd",
		strings.ToUpper(good), good[:31], good + "0", good[:31] + "g",
		"00/00/0000000000000000000000000000"[:32], "../../../../../../../../victim..",
		good[:16] + "\x00" + good[17:], good[:31] + "\n",
	} {
		if _, err := d.Open(ctx, key); !errors.Is(err, ErrBadKey) {
			t.Errorf("Open(%q) = %v, want ErrBadKey", key, err)
		}
		if err := d.Delete(ctx, key); !errors.Is(err, ErrBadKey) {
			t.Errorf("Delete(%q) = %v, want ErrBadKey", key, err)
		}
	}
	if _, err := os.Stat(victim); err != nil {
		t.Errorf("victim file: %v", err)
	}
	if ks := keys(t, d); !slices.Equal(ks, []string{good}) {
		t.Errorf("blobs %v after bad deletes", ks)
	}
	// A well-formed key that was never put is not found, not bad.
	if _, err := d.Open(ctx, strings.Repeat("0", 32)); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown key: %v", err)
	}
}

func TestConcurrentPuts(t *testing.T) {
	ctx := context.Background()
	d := openTestDir(t)
	const workers, each = 8, 25
	var mu sync.Mutex
	want := map[string]string{}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				body := fmt.Sprintf("worker %d message %d %s", w, i, strings.Repeat("x", i*100))
				key, size, err := d.Put(ctx, strings.NewReader(body))
				if err != nil {
					t.Error(err)
					return
				}
				if size != int64(len(body)) {
					t.Errorf("size %d, want %d", size, len(body))
				}
				mu.Lock()
				if _, dup := want[key]; dup {
					t.Errorf("key %s returned twice", key)
				}
				want[key] = body
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(want) != workers*each {
		t.Fatalf("%d blobs, want %d", len(want), workers*each)
	}
	if ks := keys(t, d); len(ks) != len(want) {
		t.Errorf("Walk found %d blobs, want %d", len(ks), len(want))
	}
	for key, body := range want {
		r, err := d.Open(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(r)
		_ = r.Close()
		if err != nil || string(got) != body {
			t.Errorf("%s: read %.30q, %v", key, got, err)
		}
	}
}

func TestOpenDirRemovesStaleTemps(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "blobs")
	d, err := OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	stale, fresh := filepath.Join(d.tmp, "put-stale"), filepath.Join(d.tmp, "put-fresh")
	for _, p := range []string{stale, fresh} {
		if err := os.WriteFile(p, []byte("partial"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-25 * time.Hour)
	if err := os.Chtimes(stale, old, old); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenDir(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stale temporary file kept: %v", err)
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Errorf("fresh temporary file removed: %v", err)
	}
}

func TestOpenDirErrors(t *testing.T) {
	if _, err := OpenDir(""); err == nil {
		t.Error("empty path accepted")
	}
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenDir(file); err == nil {
		t.Error("a plain file accepted as blob directory")
	}
}

func TestWalkIgnoresForeignFilesAndStops(t *testing.T) {
	ctx := context.Background()
	d := openTestDir(t)
	k1, _, err := d.Put(ctx, strings.NewReader("1"))
	if err != nil {
		t.Fatal(err)
	}
	k2, _, err := d.Put(ctx, strings.NewReader("2"))
	if err != nil {
		t.Fatal(err)
	}
	// Files that are not blobs: a stray note, a key-named file in the wrong
	// place, and a temporary file.
	for _, p := range []string{
		filepath.Join(d.root, "README"),
		filepath.Join(d.root, k1),
		filepath.Join(d.tmp, strings.Repeat("a", 32)),
	} {
		if err := os.WriteFile(p, nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{k1, k2}
	slices.Sort(want)
	if ks := keys(t, d); !slices.Equal(ks, want) {
		t.Errorf("Walk: %v, want %v", ks, want)
	}
	stop := errors.New("stop")
	calls := 0
	err = d.Walk(ctx, func(string, time.Time) error { calls++; return stop })
	if !errors.Is(err, stop) || calls != 1 {
		t.Errorf("Walk after fn error: %v, %d calls", err, calls)
	}
}

// BenchmarkPut measures durable 64 KiB puts; -benchtime and -cpu vary the
// load. Throughput is printed as MB/s, and puts/s as a metric.
func BenchmarkPut(b *testing.B) {
	d := openTestDir(b)
	body := bytes.Repeat([]byte("0123456789abcdef"), 4096) // 64 KiB
	ctx := context.Background()
	b.SetBytes(int64(len(body)))
	start := time.Now()
	n := 0
	for b.Loop() {
		if _, _, err := d.Put(ctx, bytes.NewReader(body)); err != nil {
			b.Fatal(err)
		}
		n++
	}
	b.ReportMetric(float64(n)/time.Since(start).Seconds(), "puts/s")
}

// BenchmarkPutParallel is BenchmarkPut with concurrent writers, the way
// callers that group-commit use Put.
func BenchmarkPutParallel(b *testing.B) {
	d := openTestDir(b)
	body := bytes.Repeat([]byte("0123456789abcdef"), 4096) // 64 KiB
	ctx := context.Background()
	b.SetBytes(int64(len(body)))
	b.SetParallelism(4)
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, _, err := d.Put(ctx, bytes.NewReader(body)); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "puts/s")
}

// TestKeyRuns checks that consecutive new keys share their leaf in runs of
// leafRun, and are still valid and distinct.
func TestKeyRuns(t *testing.T) {
	d, err := OpenDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	var first string
	for i := range 3 * leafRun {
		key, err := d.newKey()
		if err != nil {
			t.Fatal(err)
		}
		if !ValidKey(key) {
			t.Fatalf("key %q is not valid", key)
		}
		if seen[key] {
			t.Fatalf("key %q given twice", key)
		}
		seen[key] = true
		if i%leafRun == 0 {
			first = key
			continue
		}
		if key[:4] != first[:4] {
			t.Fatalf("key %d (%s) left the run's leaf %s", i, key, first[:4])
		}
	}
}
