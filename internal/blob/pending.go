package blob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
)

// Pending is a blob written by Dir.PutPending and not yet durable: its
// file is in place under its key but neither it nor the directory entries
// leading to it have been fsynced. Dir.SyncPending makes a group of them
// durable together; Dir.DiscardPending takes one back out.
//
// Nothing may name the key (no index row may be committed) before
// SyncPending returned without error: until then a crash may leave the
// file missing, empty or partial. Such a file is an orphan no row names,
// like a blob put before a crash that came before its row's commit.
//
// A Pending holds its file open until it is synced or discarded, so each
// blob waiting for its group's sync costs a file descriptor.
type Pending struct {
	Key  string
	Size int64

	f       *os.File // open until synced or discarded
	path    string
	leaf    string   // the file's directory
	parents []string // directories whose new entries (fan-out levels) need an fsync
}

// maxSyncWorkers bounds the fsyncs SyncPending runs at once.
const maxSyncWorkers = 32

// PutPending writes r to a new file under a new key, without fsyncing it
// (see Pending). It creates the leaf directory above the file if needed,
// leaving the fsync of its parent to SyncPending too. A group commit writes
// each message with PutPending, then calls SyncPending once for the
// group, then commits the rows naming the keys: the bodies are durable
// before the rows, at the cost of about one fsync round for all of them
// instead of two fsyncs each (Put).
func (d *Dir) PutPending(ctx context.Context, r io.Reader) (p *Pending, err error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("blob: put: %w", err)
	}
	key, err := d.newKey()
	if err != nil {
		return nil, fmt.Errorf("blob: put: %w", err)
	}
	final, leaf := d.path(key)
	p = &Pending{Key: key, path: final, leaf: leaf}
	if p.parents, err = d.makeDirs(leaf); err != nil {
		return nil, fmt.Errorf("blob: put: %w", err)
	}
	// The key is fresh and random, so O_EXCL fails only on a collision,
	// which must not overwrite anything.
	f, err := os.OpenFile(final, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("blob: put: %w", err)
	}
	d.trace("create", final)
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(final)
		}
	}()
	p.f = f
	if p.Size, err = copyBody(ctx, f, r); err != nil {
		return nil, fmt.Errorf("blob: put: write: %w", err)
	}
	return p, nil
}

// makeDirs creates the leaf directory if it is not known to exist
// durably, and returns the directories whose entries must then be fsynced:
// the leaf's parent, which OpenDir created and made durable, and also the
// root if the parent had to be made again.
func (d *Dir) makeDirs(leaf string) ([]string, error) {
	d.mu.Lock()
	ok := d.ready[leaf]
	d.mu.Unlock()
	if ok {
		return nil, nil
	}
	mid := filepath.Dir(leaf)
	parents := []string{mid}
	err := os.Mkdir(leaf, 0o700)
	if errors.Is(err, fs.ErrNotExist) {
		// The first level was removed behind our back: make it again.
		parents = []string{d.root, mid}
		if err = os.Mkdir(mid, 0o700); err == nil || errors.Is(err, fs.ErrExist) {
			err = os.Mkdir(leaf, 0o700)
		}
	}
	if err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, err
	}
	// Fsync the parent even if another writer made the leaf: that writer
	// may not have fsynced it yet.
	return parents, nil
}

// SyncPending makes ps durable: it fsyncs their files and, once each, the
// directories holding one of them or one of their new fan-out directories,
// all concurrently; a group of two or more on Linux is made durable by one
// syncfs(2) of the filesystem instead (see syncGroup). It closes the files. On error none of ps may be taken
// as durable; the caller should DiscardPending them all.
func (d *Dir) SyncPending(ctx context.Context, ps []*Pending) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("blob: sync: %w", err)
	}
	for _, p := range ps {
		if p.f == nil {
			return fmt.Errorf("blob: sync %s: already synced or discarded", p.Key)
		}
	}
	seen := map[string]bool{}
	var dirs []string
	var leaves []string
	for _, p := range ps {
		for _, dir := range append([]string{p.leaf}, p.parents...) {
			if !seen[dir] {
				seen[dir] = true
				dirs = append(dirs, dir)
			}
		}
		if len(p.parents) > 0 {
			leaves = append(leaves, p.leaf)
		}
	}
	if len(ps) > 1 && d.syncGroup(ps) {
		d.markReady(leaves)
		return nil
	}
	// Files and directories are fsynced in one concurrent round: nothing
	// names the files until every fsync has returned, so their order
	// does not matter.
	errs := make([]error, len(ps)+len(dirs))
	parallel(len(ps)+len(dirs), func(i int) {
		if i >= len(ps) {
			dir := dirs[i-len(ps)]
			if errs[i] = syncDir(dir); errs[i] == nil {
				d.trace("fsync-dir", dir)
			}
			return
		}
		p := ps[i]
		err := p.f.Sync()
		if err == nil {
			d.trace("fsync", p.path)
		}
		if cerr := p.f.Close(); err == nil {
			err = cerr
		}
		p.f = nil
		if err != nil {
			errs[i] = fmt.Errorf("blob: sync %s: %w", p.Key, err)
		}
	})
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("blob: sync: %w", err)
	}
	d.markReady(leaves)
	return nil
}

// syncGroup makes a group of pending files and their directory entries
// durable with one syncfs(2) of the store's filesystem, where that is
// trusted (see newFSSync) and every file is on that filesystem, and closes
// them. It reports false, leaving everything as it was, when it cannot or
// syncfs fails: the caller then fsyncs each file and directory, which
// also tells which of them a reported write error concerns.
func (d *Dir) syncGroup(ps []*Pending) bool {
	if d.syncFS == nil {
		return false
	}
	for _, p := range ps {
		if dev, ok := deviceOf(p.f); !ok || dev != d.dev {
			return false
		}
	}
	if err := d.syncFS(); err != nil {
		return false
	}
	d.trace("syncfs", d.root)
	for _, p := range ps {
		// The data is durable; a failing close cannot undo that.
		_ = p.f.Close()
		p.f = nil
	}
	return true
}

// markReady records leaf directories whose entries are durable.
func (d *Dir) markReady(leaves []string) {
	if len(leaves) == 0 {
		return
	}
	d.mu.Lock()
	for _, l := range leaves {
		d.ready[l] = true
	}
	d.mu.Unlock()
}

// DiscardPending removes a pending blob (or one synced whose row could not
// be committed). It does not fsync the directory: a removal undone by a
// crash leaves an orphan, which nothing names.
func (d *Dir) DiscardPending(p *Pending) {
	if p.f != nil {
		_ = p.f.Close()
		p.f = nil
	}
	_ = os.Remove(p.path)
}

// parallel runs fn(0..n-1) on at most maxSyncWorkers goroutines.
func parallel(n int, fn func(i int)) {
	if n == 1 {
		fn(0)
		return
	}
	workers := min(n, maxSyncWorkers)
	var wg sync.WaitGroup
	var mu sync.Mutex
	next := 0
	for range workers {
		wg.Go(func() {
			for {
				mu.Lock()
				i := next
				next++
				mu.Unlock()
				if i >= n {
					return
				}
				fn(i)
			}
		})
	}
	wg.Wait()
}
