package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"sync"
	"testing"

	"github.com/cabalmail/cabalmail/internal/store"
)

// TestStmtCacheReuses: a hot query is prepared once and the same statement
// serves later calls, also from many goroutines at once.
func TestStmtCacheReuses(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	u := store.User{Name: "alice"}
	if err := s.CreateUser(ctx, &u); err != nil {
		t.Fatal(err)
	}
	const q = `SELECT ` + userColumns + ` FROM users WHERE id = ?`
	if _, ok := s.stmts.m.Load(q); ok {
		t.Fatal("statement cached before first use")
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if got, err := s.UserByID(ctx, u.ID); err != nil || got.Name != "alice" {
				t.Errorf("UserByID = %+v, %v", got, err)
			}
		})
	}
	wg.Wait()
	first, ok := s.stmts.m.Load(q)
	if !ok {
		t.Fatal("statement not cached after use")
	}
	if _, err := s.UserByID(ctx, u.ID+1); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("UserByID(unknown) = %v, want ErrNotFound", err)
	}
	again, _ := s.stmts.m.Load(q)
	if first.(*sql.Stmt) != again.(*sql.Stmt) {
		t.Fatal("statement prepared again")
	}
}

// TestStmtCacheInTransactions: statements bound to a transaction see its
// writes and are rolled back with it, and the cached ones stay usable.
func TestStmtCacheInTransactions(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	it := &store.QueueItem{ID: "q1", Sender: "a@example.test", BlobKey: "k1", Recipients: []store.QueueRecipient{{Rcpt: "r@example.test"}}}
	if err := s.EnqueueItems(ctx, []*store.QueueItem{it}); err != nil {
		t.Fatal(err)
	}
	// A duplicate ID fails the second transaction as a whole: the new
	// item before it is not kept.
	dup := []*store.QueueItem{
		{ID: "q2", Sender: "a@example.test", BlobKey: "k2", Recipients: []store.QueueRecipient{{Rcpt: "r@example.test"}}},
		{ID: "q1", Sender: "a@example.test", BlobKey: "k3", Recipients: []store.QueueRecipient{{Rcpt: "r@example.test"}}},
	}
	if err := s.EnqueueItems(ctx, dup); !errors.Is(err, store.ErrExists) {
		t.Fatalf("EnqueueItems(duplicate) = %v, want ErrExists", err)
	}
	if _, err := s.QueueItem(ctx, "q2"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("QueueItem(q2) after rollback = %v, want ErrNotFound", err)
	}
	ok := &store.QueueItem{ID: "q3", Sender: "a@example.test", BlobKey: "k4", Recipients: []store.QueueRecipient{{Rcpt: "r@example.test"}}}
	if err := s.EnqueueItems(ctx, []*store.QueueItem{ok}); err != nil {
		t.Fatalf("EnqueueItems after a rolled-back one: %v", err)
	}
	items, err := s.ListQueue(ctx)
	if err != nil || len(items) != 2 {
		t.Fatalf("ListQueue = %d items, %v; want 2", len(items), err)
	}
}

// TestStmtCacheAfterClose: a closed store answers with an error, not a
// panic or a statement prepared on a closed pool.
func TestStmtCacheAfterClose(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.DomainByApex(ctx, "example.test"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("DomainByApex = %v, want ErrNotFound", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DomainByApex(ctx, "example.test"); err == nil || errors.Is(err, store.ErrNotFound) {
		t.Fatalf("DomainByApex after Close = %v, want a closed-database error", err)
	}
	if err := s.EnqueueItems(ctx, []*store.QueueItem{{ID: "q", Sender: "a@example.test", BlobKey: "k",
		Recipients: []store.QueueRecipient{{Rcpt: "r@example.test"}}}}); err == nil {
		t.Fatal("EnqueueItems after Close succeeded")
	}
}
