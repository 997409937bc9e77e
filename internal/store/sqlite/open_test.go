package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cabalmail/cabalmail/internal/store"
)

func TestOpenSettings(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "meta?#odd.db")
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("database not at %s: %v", path, err)
	}
	if m := fi.Mode().Perm(); m != 0o600 {
		t.Errorf("database mode %o, want 600", m)
	}
	// Every pooled connection must carry the pragmas: hold several at once.
	conns := make([]interface{ Close() error }, 0, 4)
	for i := 0; i < 4; i++ {
		c, err := s.db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		for pragma, want := range map[string]string{
			"journal_mode": "wal", "foreign_keys": "1", "busy_timeout": "10000", "synchronous": "2",
		} {
			var got string
			if err := c.QueryRowContext(ctx, "PRAGMA "+pragma).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if strings.ToLower(got) != want {
				t.Errorf("connection %d: PRAGMA %s = %s, want %s", i, pragma, got, want)
			}
		}
	}
	for _, c := range conns {
		c.Close()
	}
	u := store.User{Name: "alice"}
	if err := s.CreateUser(ctx, &u); err != nil {
		t.Fatal(err)
	}
	for _, suffix := range []string{"-wal", "-shm"} {
		fi, err := os.Stat(path + suffix)
		if err != nil {
			t.Fatal(err)
		}
		if m := fi.Mode().Perm(); m != 0o600 {
			t.Errorf("%s mode %o, want 600", suffix, m)
		}
	}
}

// TestTokenLastUsed checks what the Store interface cannot show: that
// UserByToken records the time of use.
func TestTokenLastUsed(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	u := store.User{Name: "alice"}
	if err := s.CreateUser(ctx, &u); err != nil {
		t.Fatal(err)
	}
	tok := store.Token{UserID: u.ID, Hash: "abc"}
	if err := s.CreateToken(ctx, &tok); err != nil {
		t.Fatal(err)
	}
	lastUsed := func() time.Time {
		var n sql.NullInt64
		if err := s.db.QueryRowContext(ctx, `SELECT last_used FROM tokens WHERE hash = 'abc'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return fromNullNanos(n)
	}
	if !lastUsed().IsZero() {
		t.Errorf("new token already used at %v", lastUsed())
	}
	before := time.Now()
	if _, err := s.UserByToken(ctx, "abc"); err != nil {
		t.Fatal(err)
	}
	if got := lastUsed(); got.Before(before.Truncate(time.Microsecond)) || got.After(time.Now()) {
		t.Errorf("last used %v, want between %v and now", got, before)
	}
}

// TestConstraintMapping checks that integrity errors are recognised by
// their SQLite result codes.
func TestConstraintMapping(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	if _, err := s.db.ExecContext(ctx, `INSERT INTO settings (key, value) VALUES ('k', 'v')`); err != nil {
		t.Fatal(err)
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO settings (key, value) VALUES ('k', 'w')`)
	if !errors.Is(mapErr(err), store.ErrExists) {
		t.Errorf("primary key violation mapped to %v", mapErr(err))
	}
	_, err = s.db.ExecContext(ctx, `INSERT INTO tokens (user_id, hash, created_at) VALUES (999, 'h', 0)`)
	if !errors.Is(mapErr(err), store.ErrNotFound) {
		t.Errorf("foreign key violation mapped to %v", mapErr(err))
	}
	_, err = s.db.ExecContext(ctx, `INSERT INTO users (name, status, created_at) VALUES ('x', 'bogus', 0)`)
	if err == nil {
		t.Fatal("check constraint not enforced")
	}
	if m := mapErr(err); errors.Is(m, store.ErrExists) || errors.Is(m, store.ErrNotFound) {
		t.Errorf("check violation mapped to a sentinel: %v", m)
	}
}

// TestTimeRange checks that times an int64 of nanoseconds cannot hold are
// refused, not stored wrapped around.
func TestTimeRange(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	old := time.Date(1500, 1, 1, 0, 0, 0, 0, time.UTC)
	far := time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := s.CreateUser(ctx, &store.User{Name: "alice", CreatedAt: old}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("user created in 1500: %v", err)
	}
	if _, err := s.UserByName(ctx, "alice"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("refused user stored: %v", err)
	}
	if err := s.AddEvent(ctx, &store.Event{Tier: "smtp-in", Time: far}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("event in 3000: %v", err)
	}
	if err := s.AddAudit(ctx, &store.AuditEntry{Actor: "operator", Action: "x", Time: far}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("audit entry in 3000: %v", err)
	}
	edge := time.Unix(0, math.MaxInt64).UTC()
	if err := s.AddEvent(ctx, &store.Event{Tier: "smtp-in", Time: edge}); err != nil {
		t.Errorf("event at the last representable instant: %v", err)
	}
	evs, err := s.ListEvents(ctx, store.EventFilter{Since: far})
	if err != nil || len(evs) != 0 {
		t.Errorf("events since 3000: %+v, %v", evs, err)
	}
}
