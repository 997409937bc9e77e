package mailbox

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cabalmail/cabalmail/internal/store"
)

// countingStore is the real store with a count of AddMessages calls, and a
// check that every body named by a row is already durable in the blob
// store when the row is committed.
type countingStore struct {
	store.Store
	e       *env
	calls   atomic.Int64
	msgs    atomic.Int64
	missing atomic.Int64
	fail    atomic.Bool
}

func (c *countingStore) AddMessages(ctx context.Context, msgs []store.NewMessage) ([]store.Added, error) {
	c.calls.Add(1)
	c.msgs.Add(int64(len(msgs)))
	for _, m := range msgs {
		r, err := c.e.blobs.Open(ctx, m.BlobKey)
		if err != nil {
			c.missing.Add(1)
			continue
		}
		r.Close()
	}
	if c.fail.Load() {
		return nil, errors.New("disk on fire")
	}
	// Hold the commit a little, as a slow disk would, so callers queue.
	time.Sleep(2 * time.Millisecond)
	return c.Store.AddMessages(ctx, msgs)
}

func TestGroupCommit(t *testing.T) {
	var cs *countingStore
	e := newEnv(t, func(o *Options) {
		cs = &countingStore{Store: o.Store}
		o.Store = cs
	})
	cs.e = e
	ctx := testCtx(t)
	alice := e.user(t, "alice")
	v := e.selectBox(t, alice, "INBOX")
	const writers, each = 20, 10
	var wg sync.WaitGroup
	var mu sync.Mutex
	var uids []uint32
	errs := make(chan error, writers)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < each; i++ {
				r, err := e.s.Append(ctx, alice, "INBOX", strings.NewReader(msg(fmt.Sprintf("w%d-%d", w, i), "x")), AppendOptions{})
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				uids = append(uids, r.UID)
				mu.Unlock()
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	sort.Slice(uids, func(i, j int) bool { return uids[i] < uids[j] })
	for i, uid := range uids {
		if uid != uint32(i+1) {
			t.Fatalf("UIDs not 1..%d: %v", writers*each, uids)
		}
	}
	if cs.msgs.Load() != writers*each {
		t.Errorf("%d messages committed", cs.msgs.Load())
	}
	if calls := cs.calls.Load(); calls >= writers*each/2 {
		t.Errorf("%d commits for %d concurrent appends: no group commit", calls, writers*each)
	} else {
		t.Logf("%d appends in %d commits", writers*each, calls)
	}
	if cs.missing.Load() != 0 {
		t.Errorf("%d rows committed before their body was durable", cs.missing.Load())
	}
	ch, err := v.Sync(ctx, true)
	if err != nil || ch.Exists != writers*each {
		t.Errorf("view after appends: %v %+v", err, ch)
	}

	// A failed commit answers every caller with an error and removes the
	// bodies it wrote.
	cs.fail.Store(true)
	before := e.blobCount(t)
	var failed atomic.Int64
	for w := 0; w < 5; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := e.s.Append(ctx, alice, "INBOX", strings.NewReader(msg("doomed", "x")), AppendOptions{}); err != nil {
				failed.Add(1)
			}
		}()
	}
	wg.Wait()
	if failed.Load() != 5 {
		t.Errorf("%d of 5 appends failed", failed.Load())
	}
	if n := e.blobCount(t); n != before {
		t.Errorf("failed appends left %d bodies", n-before)
	}
}

// TestTwoProcesses checks that two stores on the same database, as two
// processes would have, see each other's changes within a second.
func TestTwoProcesses(t *testing.T) {
	a := newEnv(t, nil)
	b := openEnv(t, a.dir, nil)
	ctx := testCtx(t)
	alice := a.user(t, "alice")
	va := a.selectBox(t, alice, "INBOX")
	watch, stop := a.s.Watch(alice)
	defer stop()

	start := time.Now()
	ds, err := b.s.Deliver(ctx, []int64{alice}, strings.NewReader(msg("from b", "x")), DeliverOptions{})
	if err != nil || ds[0].Err != nil {
		t.Fatalf("deliver: %v %+v", err, ds)
	}
	select {
	case <-va.Updated():
	case <-time.After(time.Second):
		t.Fatal("view not woken within 1s of a delivery by another process")
	}
	t.Logf("woken after %v", time.Since(start))
	ch, err := va.Sync(ctx, true)
	if err != nil || !ch.NewExists || ch.Exists != 1 {
		t.Fatalf("sync: %v %+v", err, ch)
	}
	select {
	case <-watch:
	case <-time.After(time.Second):
		t.Fatal("watcher not woken")
	}

	// Flags and expunges made by the other process reach this view too.
	vb := b.selectBox(t, alice, "INBOX")
	if _, _, err := vb.StoreFlags(ctx, []uint32{ds[0].UID}, FlagsAdd, Flags{System: FlagDeleted}, StoreOptions{}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-va.Updated():
	case <-time.After(time.Second):
		t.Fatal("view not woken by a flag change in another process")
	}
	ch, _ = va.Sync(ctx, true)
	if len(ch.Updated) != 1 || ch.Updated[0].Flags.System != FlagDeleted {
		t.Errorf("flag change: %+v", ch)
	}
	if _, err := vb.Expunge(ctx, nil); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(time.Second)
	for {
		ch, _ = va.Sync(ctx, true)
		if len(ch.Expunged) > 0 {
			break
		}
		select {
		case <-va.Updated():
		case <-deadline:
			t.Fatal("expunge by another process not seen within 1s")
		}
	}
	if ch.Expunged[0] != 1 || len(va.UIDs()) != 0 {
		t.Errorf("expunge: %+v", ch)
	}
	// A mailbox deleted by the other process ends the selection.
	if err := b.s.Create(ctx, alice, "shared", UseNone); err != nil {
		t.Fatal(err)
	}
	vs := a.selectBox(t, alice, "shared")
	if err := b.s.Delete(ctx, alice, "shared"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-vs.Updated():
	case <-time.After(time.Second):
		t.Fatal("deletion by another process not seen within 1s")
	}
	if ch, _ := vs.Sync(ctx, true); !ch.Gone {
		t.Errorf("deleted mailbox: %+v", ch)
	}
}

// TestConcurrentViews runs appends, flag changes, expunges and syncs at
// once (for the race detector) and checks every view ends in agreement.
func TestConcurrentViews(t *testing.T) {
	e := newEnv(t, nil)
	ctx := testCtx(t)
	alice := e.user(t, "alice")
	for i := 0; i < 20; i++ {
		e.append(t, alice, "INBOX", msg("seed", "x"), Flags{})
	}
	var wg sync.WaitGroup
	views := make([]*View, 4)
	for i := range views {
		views[i] = e.selectBox(t, alice, "INBOX")
	}
	stop := make(chan struct{})
	for _, v := range views {
		wg.Add(1)
		go func(v *View) {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				case <-v.Updated():
				case <-time.After(10 * time.Millisecond):
				}
				if _, err := v.Sync(ctx, true); err != nil {
					t.Error(err)
					return
				}
				v.Messages(v.UIDs())
			}
		}(v)
	}
	var writers sync.WaitGroup
	for w := 0; w < 3; w++ {
		writers.Add(1)
		go func(w int) {
			defer writers.Done()
			v, err := e.s.Select(ctx, alice, "INBOX")
			if err != nil {
				t.Error(err)
				return
			}
			defer v.Close()
			for i := 0; i < 15; i++ {
				if _, err := e.s.Append(ctx, alice, "INBOX", strings.NewReader(msg("more", "y")), AppendOptions{}); err != nil {
					t.Error(err)
					return
				}
				uid := uint32(1 + (i*7+w)%20)
				if _, _, err := v.StoreFlags(ctx, []uint32{uid}, FlagsAdd, Flags{System: FlagDeleted}, StoreOptions{}); err != nil {
					t.Error(err)
					return
				}
				if i%5 == 4 {
					if _, err := v.Expunge(ctx, nil); err != nil {
						t.Error(err)
						return
					}
				}
			}
		}(w)
	}
	writers.Wait()
	close(stop)
	wg.Wait()
	st, err := e.s.Status(ctx, alice, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range views {
		if _, err := v.Sync(ctx, true); err != nil {
			t.Fatal(err)
		}
		if uint32(len(v.UIDs())) != st.Messages || len(v.Messages(v.UIDs())) != int(st.Messages) {
			t.Errorf("view %d has %d messages, store %d", i, len(v.UIDs()), st.Messages)
		}
	}
}
