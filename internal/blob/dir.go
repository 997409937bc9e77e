package blob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// tmpDirName is the directory of blobs being written. It lives in the same
// tree, hence on the same filesystem, so the final rename is atomic.
const tmpDirName = "tmp"

// staleTemp is the age after which OpenDir removes a temporary file left by
// a crash. Several processes may share a directory, so a younger one may
// still be being written.
const staleTemp = 24 * time.Hour

// Dir is a Store of files under one directory: each blob is the file
// <dir>/<k0k1>/<k2k3>/<key>, two levels of 256 subdirectories each so no
// directory grows large. Files are mode 0600, directories 0700.
//
// OpenDir creates the 256 first-level directories and fsyncs the root
// once, and takes the second-level (leaf) directories that already exist
// as durable after fsyncing their parents once. A put into a known leaf
// then fsyncs only the leaf; a put that creates a leaf fsyncs the leaf and
// its first-level parent, not the root. First-level directories are never
// removed.
type Dir struct {
	root string
	tmp  string

	mu    sync.Mutex
	ready map[string]bool // leaf directories known to exist durably
	// run and runLeft place consecutive new keys in one leaf: run is the
	// leaf's four hex digits, used for runLeft more keys (see newKey).
	run     string
	runLeft int

	// syncFS, if set, makes everything written to root's filesystem
	// durable at once (syncfs(2)); dev is that filesystem's device.
	// SyncPending uses it for groups of files (see newFSSync).
	syncFS func() error
	dev    uint64

	// step, if set, is told each durability step of Put; tests use it.
	step func(name, path string)
	// key, if set, replaces newKey; tests use it to choose the leaf.
	key func() (string, error)
}

var _ Store = (*Dir)(nil)

// OpenDir opens (creating if needed) the blob directory dir and removes
// temporary files left over by a crash more than a day ago.
func OpenDir(dir string) (*Dir, error) {
	if dir == "" {
		return nil, errors.New("blob: open: no directory given")
	}
	root, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("blob: open %s: %w", dir, err)
	}
	d := &Dir{root: root, tmp: filepath.Join(root, tmpDirName), ready: map[string]bool{}}
	if err := os.MkdirAll(d.tmp, 0o700); err != nil {
		return nil, fmt.Errorf("blob: open %s: %w", dir, err)
	}
	if err := d.removeStaleTemps(time.Now().Add(-staleTemp)); err != nil {
		return nil, fmt.Errorf("blob: open %s: %w", dir, err)
	}
	if err := d.fanOut(); err != nil {
		return nil, fmt.Errorf("blob: open %s: %w", dir, err)
	}
	d.syncFS, d.dev = newFSSync(root)
	return d, nil
}

// fanOut creates the first-level directories that are missing and fsyncs
// the root once, so that no put has to; then it lists the leaves that
// exist and fsyncs each first-level directory holding one, since another
// writer may have created a leaf without having fsynced its parent yet.
// Those leaves are then known durable. In a full store this is 256
// directory listings and 256 fsyncs, run concurrently, once per open.
func (d *Dir) fanOut() error {
	mids := make([]string, 256)
	for i := range mids {
		mids[i] = filepath.Join(d.root, fmt.Sprintf("%02x", i))
		if err := os.Mkdir(mids[i], 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
			return err
		}
	}
	if err := syncDir(d.root); err != nil {
		return err
	}
	leaves := make([][]string, len(mids))
	errs := make([]error, len(mids))
	parallel(len(mids), func(i int) {
		entries, err := os.ReadDir(mids[i])
		if err != nil {
			errs[i] = err
			return
		}
		for _, e := range entries {
			if e.IsDir() && isFanOutName(e.Name()) {
				leaves[i] = append(leaves[i], filepath.Join(mids[i], e.Name()))
			}
		}
		if len(leaves[i]) > 0 {
			errs[i] = syncDir(mids[i])
		}
	})
	if err := errors.Join(errs...); err != nil {
		return err
	}
	for _, ls := range leaves {
		for _, l := range ls {
			d.ready[l] = true
		}
	}
	return nil
}

// isFanOutName reports whether name is a fan-out directory's: two
// lower-case hex digits.
func isFanOutName(name string) bool {
	return len(name) == 2 && ValidKey(strings.Repeat(name, keyBytes))
}

// leafRun is how many consecutive new keys share a leaf directory.
const leafRun = 128

// newKey returns a fresh random key (or the test's). Runs of leafRun
// consecutive keys share their first four hex digits, hence their leaf
// directory, the run's leaf itself chosen at random: the bodies of one
// group commit then mostly sit in one leaf, which costs one directory
// fsync instead of one per body (plus one per first-level parent for each
// leaf it creates). A key keeps 112 random bits; over time the leaves
// still fill evenly, a run adding at most leafRun files to one of them.
func (d *Dir) newKey() (string, error) {
	if d.key != nil {
		return d.key()
	}
	key, err := newKey()
	if err != nil {
		return "", err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.runLeft == 0 {
		d.run, d.runLeft = key[:4], leafRun
	}
	d.runLeft--
	return d.run + key[4:], nil
}

func (d *Dir) removeStaleTemps(before time.Time) error {
	entries, err := os.ReadDir(d.tmp)
	if err != nil {
		return err
	}
	for _, e := range entries {
		info, err := e.Info()
		if errors.Is(err, fs.ErrNotExist) {
			continue // finished by its writer meanwhile
		}
		if err != nil {
			return err
		}
		if info.ModTime().Before(before) {
			if err := os.Remove(filepath.Join(d.tmp, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
		}
	}
	return nil
}

// path returns the file of a valid key and its directory.
func (d *Dir) path(key string) (file, dir string) {
	dir = filepath.Join(d.root, key[0:2], key[2:4])
	return filepath.Join(dir, key), dir
}

func (d *Dir) trace(name, path string) {
	if d.step != nil {
		d.step(name, path)
	}
}

// Put writes r to a temporary file, fsyncs it, renames it to its key's
// place and fsyncs that directory. Until the rename nothing exists under
// the key; after an error nothing does, and the temporary file is removed.
func (d *Dir) Put(ctx context.Context, r io.Reader) (key string, size int64, err error) {
	if err := ctx.Err(); err != nil {
		return "", 0, fmt.Errorf("blob: put: %w", err)
	}
	key, err = d.newKey()
	if err != nil {
		return "", 0, fmt.Errorf("blob: put: %w", err)
	}
	final, dir := d.path(key)

	f, err := os.CreateTemp(d.tmp, "put-*")
	if err != nil {
		return "", 0, fmt.Errorf("blob: put: %w", err)
	}
	tmp := f.Name()
	d.trace("create", tmp)
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(tmp)
		}
	}()
	size, err = copyBody(ctx, f, r)
	if err != nil {
		return "", 0, fmt.Errorf("blob: put: write: %w", err)
	}
	if err = f.Sync(); err != nil {
		return "", 0, fmt.Errorf("blob: put: fsync: %w", err)
	}
	d.trace("fsync", tmp)
	if err = f.Close(); err != nil {
		return "", 0, fmt.Errorf("blob: put: %w", err)
	}
	if err = d.ensureDir(dir); err != nil {
		return "", 0, fmt.Errorf("blob: put: %w", err)
	}
	if err = os.Rename(tmp, final); err != nil {
		return "", 0, fmt.Errorf("blob: put: %w", err)
	}
	d.trace("rename", final)
	if err = syncDir(dir); err != nil {
		// The blob is in place but perhaps not durably: report failure so
		// the caller answers 4xx, and take the file back out.
		_ = os.Remove(final)
		return "", 0, fmt.Errorf("blob: put: %w", err)
	}
	d.trace("fsync-dir", dir)
	return key, size, nil
}

// ensureDir creates the fan-out directories above a blob if needed (see
// makeDirs), fsyncing the parents of the new ones so their entries survive
// a crash. Once done for a leaf it is remembered, so most Puts skip it.
func (d *Dir) ensureDir(leaf string) error {
	parents, err := d.makeDirs(leaf)
	if err != nil {
		return err
	}
	if len(parents) == 0 {
		return nil
	}
	for _, p := range parents {
		if err := syncDir(p); err != nil {
			return err
		}
		d.trace("fsync-parent", p)
	}
	d.mu.Lock()
	d.ready[leaf] = true
	d.mu.Unlock()
	return nil
}

// copyBuffers holds the buffers bodies are copied through, so a put does
// not allocate one.
var copyBuffers = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// copyBody copies r to f through a pooled buffer, checking ctx before each
// read. f is wrapped so io.CopyBuffer uses the buffer rather than
// (*os.File).ReadFrom, which would allocate its own for such a reader.
func copyBody(ctx context.Context, f *os.File, r io.Reader) (int64, error) {
	buf := copyBuffers.Get().(*[]byte)
	defer copyBuffers.Put(buf)
	return io.CopyBuffer(struct{ io.Writer }{f}, ctxReader{ctx, r}, *buf)
}

// Open returns a reader of the blob under key.
func (d *Dir) Open(ctx context.Context, key string) (Reader, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("blob: open: %w", err)
	}
	if !ValidKey(key) {
		return nil, fmt.Errorf("blob: open %.64q: %w", key, ErrBadKey)
	}
	file, _ := d.path(key)
	f, err := os.Open(file)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("blob: open %s: %w", key, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("blob: open %s: %w", key, err)
	}
	info, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("blob: open %s: %w", key, err)
	}
	return &fileReader{File: f, size: info.Size()}, nil
}

// Delete removes the blob under key and fsyncs its directory, so an
// expunged message does not come back after a crash.
func (d *Dir) Delete(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("blob: delete: %w", err)
	}
	if !ValidKey(key) {
		return fmt.Errorf("blob: delete %.64q: %w", key, ErrBadKey)
	}
	file, dir := d.path(key)
	err := os.Remove(file)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("blob: delete %s: %w", key, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("blob: delete %s: %w", key, err)
	}
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("blob: delete %s: %w", key, err)
	}
	return nil
}

// Walk calls fn for every stored blob, in no particular order, with the
// time it was stored. It is meant for sweeping orphans (see the package
// doc); blobs put or deleted during the walk may or may not be seen. An
// error from fn stops the walk and is returned.
func (d *Dir) Walk(ctx context.Context, fn func(key string, stored time.Time) error) error {
	err := filepath.WalkDir(d.root, func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // removed while walking
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, _ := filepath.Rel(d.root, path)
		if e.IsDir() {
			if rel == tmpDirName {
				return filepath.SkipDir
			}
			return nil
		}
		name := e.Name()
		if !ValidKey(name) || rel != filepath.Join(name[0:2], name[2:4], name) {
			return nil // not ours
		}
		info, err := e.Info()
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		return fn(name, info.ModTime())
	})
	if err != nil {
		return fmt.Errorf("blob: walk: %w", err)
	}
	return nil
}

type fileReader struct {
	*os.File
	size int64
}

func (r *fileReader) Size() int64 { return r.size }

// ctxReader stops a copy when the context ends, so a cancelled SMTP
// transaction does not keep writing.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// syncDir makes the entries of dir (a rename, a new file or subdirectory)
// durable.
func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("fsync directory: %w", err)
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return fmt.Errorf("fsync directory %s: %w", dir, err)
	}
	return f.Close()
}
