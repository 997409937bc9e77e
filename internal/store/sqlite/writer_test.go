package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// openTemp opens a new store in a temporary directory, closed when the
// test ends.
func openTemp(t *testing.T) *Store {
	t.Helper()
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// TestWritersDoNotStarveTheWriter: while one transaction writes, more
// writers than the pool has connections arrive, and the transaction then
// needs a pooled connection of its own (a statement prepared for the
// cache). The waiting writers must not hold the pool meanwhile: they once
// each took a connection and waited in SQLite's busy handler for the
// transaction's lock, which waited for a connection, until the busy
// timeout failed them all with SQLITE_BUSY (a burst of first deliveries
// to the MX got 451 that way).
func TestWritersDoNotStarveTheWriter(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	inTx, release := make(chan struct{}), make(chan struct{})
	txErr := make(chan error, 1)
	go func() {
		txErr <- s.writeTx(ctx, func(tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, `INSERT INTO settings (key, value) VALUES ('first', 'v')`); err != nil {
				return err
			}
			close(inTx)
			<-release
			// A statement not cached yet: preparing it takes a pooled
			// connection.
			_, err := s.txStmt(ctx, tx, `SELECT value FROM settings WHERE key = 'first'`)
			return err
		})
	}()
	<-inTx
	const writers = maxOpenConns + 4
	errs := make([]error, writers)
	var wg sync.WaitGroup
	for i := range writers {
		wg.Go(func() { errs[i] = s.SetSetting(ctx, fmt.Sprintf("k%d", i), "v") })
	}
	// Let the writers reach the point where they wait; without the
	// writer turn they now hold every pooled connection.
	time.Sleep(200 * time.Millisecond)
	close(release)
	if err := <-txErr; err != nil {
		t.Fatalf("the transaction: %v", err)
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("writer %d: %v", i, err)
		}
	}
	for i := range writers {
		if v, err := s.Setting(ctx, fmt.Sprintf("k%d", i)); err != nil || v != "v" {
			t.Errorf("k%d = %q, %v", i, v, err)
		}
	}
}

// TestWriterTurnHonoursContext: a writer that cannot get the turn before
// its context ends gets the context's error, and writes nothing.
func TestWriterTurnHonoursContext(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	if err := s.lockWriter(ctx); err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if err := s.SetSetting(short, "k", "v"); err == nil {
		t.Fatal("SetSetting without the writer turn succeeded")
	}
	s.unlockWriter()
	if v, err := s.Setting(ctx, "k"); err == nil {
		t.Fatalf("k = %q after a failed write", v)
	}
	if err := s.SetSetting(ctx, "k", "v"); err != nil {
		t.Fatalf("SetSetting after the turn was released: %v", err)
	}
}
