package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/cabalmail/cabalmail/internal/store"
)

func TestMigrationList(t *testing.T) {
	names := make(map[string]bool)
	for i, m := range migrations {
		if m.Version != i+1 {
			t.Errorf("migration %d %q has version %d", i+1, m.Name, m.Version)
		}
		if m.Name == "" || names[m.Name] {
			t.Errorf("migration %d: empty or repeated name %q", m.Version, m.Name)
		}
		names[m.Name] = true
		if strings.TrimSpace(m.SQL) == "" {
			t.Errorf("migration %d %q has no SQL", m.Version, m.Name)
		}
	}
	if LatestSchemaVersion() != len(migrations) || LatestSchemaVersion() < 1 {
		t.Errorf("LatestSchemaVersion() = %d with %d migrations", LatestSchemaVersion(), len(migrations))
	}
}

func TestOpenEmpty(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	wantVersion(t, s, LatestSchemaVersion())
	rows, err := s.db.QueryContext(ctx, `SELECT version, name FROM schema_version ORDER BY version`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	i := 0
	for rows.Next() {
		var v int
		var name string
		if err := rows.Scan(&v, &name); err != nil {
			t.Fatal(err)
		}
		if i >= len(migrations) || v != migrations[i].Version || name != migrations[i].Name {
			t.Errorf("schema_version row %d: %d %q", i, v, name)
		}
		i++
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if i != len(migrations) {
		t.Errorf("%d migrations recorded, want %d", i, len(migrations))
	}
	if err := s.db.QueryRowContext(ctx, `PRAGMA foreign_key_check`).Scan(); !errors.Is(err, sql.ErrNoRows) {
		t.Errorf("foreign key check on a new database: %v", err)
	}
}

// seedV1 inserts one row of each kind through the schema of migration 1, the
// way a program of that version wrote them. If a later migration changes
// one of these tables so that this SQL no longer fits, give this test a seed
// per version range instead of editing this one.
const seedV1 = `
INSERT INTO domains (apex, dkim_selector, dkim_key_pem, created_at) VALUES ('example.test', 'sel1', 'PEM', 1700000000000000000);
INSERT INTO users (id, name, password_hash, admin, status, quota_bytes, created_at) VALUES (7, 'alice', 'h', 1, 'active', 42, 1700000000000000001);
INSERT INTO grants (user_id, apex, created_at) VALUES (7, 'example.test', 1700000000000000002);
INSERT INTO addresses (id, address, local, subdomain, apex, state, created_at, changed_at)
	VALUES (3, 'shop@x1.example.test', 'shop', 'x1', 'example.test', 'suspended', 1700000000000000003, 1700000000000000004);
INSERT INTO holdings (address_id, user_id, comment, favorite, created_at, received, last_received)
	VALUES (3, 7, 'the shop', 1, 1700000000000000005, 9, 1700000000000000006);
INSERT INTO tokens (user_id, hash, created_at) VALUES (7, 'tokenhash', 1700000000000000007);
INSERT INTO settings (key, value) VALUES ('inbound.tempfail', 'on');
INSERT INTO events (time, tier, queue_id, rcpt, delay_ns, relay, dsn, status, detail)
	VALUES (1700000000000000008, 'smtp-out', 'q1', 'b@remote.test', 3000000000, 'mx.remote.test', '2.0.0', 'Sent', '250 ok');
INSERT INTO audit (time, actor, action, target, detail) VALUES (1700000000000000009, 'operator', 'user.add', 'alice', '');
`

// checkSeedV1 checks through the Store API that the seedV1 rows survived.
func checkSeedV1(t *testing.T, s *Store) {
	t.Helper()
	ctx := context.Background()
	u, err := s.UserByName(ctx, "alice")
	if err != nil {
		t.Fatalf("seeded user: %v", err)
	}
	if u.ID != 7 || !u.Admin || u.QuotaBytes != 42 || u.CreatedAt != fromNanos(1700000000000000001) {
		t.Errorf("seeded user %+v", u)
	}
	if ok, err := s.HasGrant(ctx, 7, "example.test"); !ok || err != nil {
		t.Errorf("seeded grant: %v, %v", ok, err)
	}
	a, err := s.AddressByName(ctx, "shop@x1.example.test")
	if err != nil {
		t.Fatalf("seeded address: %v", err)
	}
	if a.State != store.AddressSuspended || len(a.Holders) != 1 {
		t.Fatalf("seeded address %+v", a)
	}
	if h := a.Holders[0]; h.UserName != "alice" || h.Comment != "the shop" || !h.Favorite || h.Received != 9 ||
		h.LastReceived != fromNanos(1700000000000000006) {
		t.Errorf("seeded holding %+v", h)
	}
	if u, err := s.UserByToken(ctx, "tokenhash"); err != nil || u.ID != 7 {
		t.Errorf("seeded token: %+v, %v", u, err)
	}
	if v, err := s.Setting(ctx, "inbound.tempfail"); v != "on" || err != nil {
		t.Errorf("seeded setting: %q, %v", v, err)
	}
	if evs, err := s.ListEvents(ctx, store.EventFilter{}); err != nil || len(evs) != 1 || evs[0].QueueID != "q1" {
		t.Errorf("seeded events: %+v, %v", evs, err)
	}
	if d, err := s.DomainByApex(ctx, "example.test"); err != nil || d.DKIMSelector != "sel1" {
		t.Errorf("seeded domain: %+v, %v", d, err)
	}
	if list, err := s.ListAudit(ctx, 0); err != nil || len(list) != 1 {
		t.Errorf("seeded audit: %+v, %v", list, err)
	}
	// The upgraded schema still accepts new rows of every kind.
	b := store.User{Name: "bob"}
	if err := s.CreateUser(ctx, &b); err != nil {
		t.Fatal(err)
	}
	if b.ID <= 7 {
		t.Errorf("new user got ID %d, at or below the seeded 7", b.ID)
	}
	na := store.Address{Address: "new@x2.example.test", Local: "new", Subdomain: "x2", Apex: "example.test",
		Holders: []store.Holding{{UserID: 7}, {UserID: b.ID}}}
	if err := s.CreateAddress(ctx, &na); err != nil {
		t.Fatal(err)
	}
}

// TestUpgrade builds a database at every older schema version, with data
// where the schema allows, and opens it with the current program.
func TestUpgrade(t *testing.T) {
	ctx := context.Background()
	for from := 0; from < LatestSchemaVersion(); from++ {
		t.Run(fmt.Sprintf("from%d", from), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "old.db")
			old, err := open(ctx, path, from)
			if err != nil {
				t.Fatal(err)
			}
			wantVersion(t, old, from)
			if from >= 1 {
				if _, err := old.db.ExecContext(ctx, seedV1); err != nil {
					t.Fatalf("seed at version %d: %v", from, err)
				}
			}
			if err := old.Close(); err != nil {
				t.Fatal(err)
			}
			s, err := Open(ctx, path)
			if err != nil {
				t.Fatalf("upgrade from %d: %v", from, err)
			}
			defer s.Close()
			wantVersion(t, s, LatestSchemaVersion())
			if from >= 1 {
				checkSeedV1(t, s)
			}
		})
	}
}

// TestUpgradeFromPrevious is the upgrade every release ships: from the
// schema just before the latest, with data. With a single migration the
// previous schema is the empty database, so the seed goes in afterwards and
// survives a reopen instead.
func TestUpgradeFromPrevious(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "prev.db")
	prev := LatestSchemaVersion() - 1
	old, err := open(ctx, path, max(prev, 1))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := old.db.ExecContext(ctx, seedV1); err != nil {
		t.Fatalf("seed: %v", err)
	}
	old.Close()
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatalf("upgrade from %d: %v", prev, err)
	}
	defer s.Close()
	wantVersion(t, s, LatestSchemaVersion())
	checkSeedV1(t, s)
}

func TestReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "re.db")
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.db.ExecContext(ctx, seedV1); err != nil {
		t.Fatal(err)
	}
	s.Close()
	for i := 0; i < 3; i++ {
		s, err = Open(ctx, path)
		if err != nil {
			t.Fatalf("reopen %d: %v", i, err)
		}
		wantVersion(t, s, LatestSchemaVersion())
		var n int
		if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_version`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != len(migrations) {
			t.Errorf("reopen %d: %d schema_version rows, want %d", i, n, len(migrations))
		}
		s.Close()
	}
	s, err = Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	checkSeedV1(t, s)
}

func TestRefuseNewerSchema(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "future.db")
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	future := LatestSchemaVersion() + 1
	if _, err := s.db.ExecContext(ctx, `INSERT INTO schema_version (version, name, applied_at) VALUES (?, 'from the future', 0)`, future); err != nil {
		t.Fatal(err)
	}
	s.Close()
	_, err = Open(ctx, path)
	if !errors.Is(err, ErrSchemaTooNew) {
		t.Fatalf("Open of a version %d database: %v, want ErrSchemaTooNew", future, err)
	}
	if !strings.Contains(err.Error(), fmt.Sprint(future)) {
		t.Errorf("error %q does not name the database's version", err)
	}
	// The refused database is left as it was.
	db, err := sql.Open("sqlite", dsn(path))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if v, err := schemaVersion(ctx, db); err != nil || v != future {
		t.Errorf("version after refusal: %d, %v", v, err)
	}
}

// TestFailedMigration checks that a migration that fails part way leaves
// no trace and is retried at the next Open.
func TestFailedMigration(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "fail.db")
	saved := migrations
	t.Cleanup(func() { migrations = saved })

	broken := append(append([]migration(nil), saved...), migration{len(saved) + 1, "broken",
		`CREATE TABLE half_done (x INTEGER); INSERT INTO no_such_table VALUES (1);`})
	migrations = broken
	if _, err := Open(ctx, path); err == nil || !strings.Contains(err.Error(), "broken") {
		t.Fatalf("Open with a failing migration: %v, want an error naming it", err)
	}
	migrations = saved
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	wantVersion(t, s, len(saved))
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM sqlite_schema WHERE name = 'half_done'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Error("a failed migration left its table behind")
	}
	s.Close()

	fixed := append(append([]migration(nil), saved...), migration{len(saved) + 1, "fixed", `CREATE TABLE half_done (x INTEGER);`})
	migrations = fixed
	s, err = Open(ctx, path)
	if err != nil {
		t.Fatalf("Open with the fixed migration: %v", err)
	}
	wantVersion(t, s, len(fixed))
}

// TestConcurrentOpen opens one new database from several goroutines at
// once, as processes starting together do: each migration runs once.
func TestConcurrentOpen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "race.db")
	const n = 4
	stores := make([]*Store, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stores[i], errs[i] = Open(ctx, path)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("open %d: %v", i, err)
		}
		defer stores[i].Close()
	}
	var rows int
	if err := stores[0].db.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_version`).Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if rows != len(migrations) {
		t.Errorf("%d schema_version rows, want %d", rows, len(migrations))
	}
}

func TestOpenBadInput(t *testing.T) {
	ctx := context.Background()
	if _, err := Open(ctx, ""); err == nil {
		t.Error("Open of an empty path succeeded")
	}
	if _, err := Open(ctx, filepath.Join(t.TempDir(), "missing-dir", "x.db")); err == nil {
		t.Error("Open in a missing directory succeeded")
	}
}

func wantVersion(t *testing.T, s *Store, want int) {
	t.Helper()
	v, err := s.SchemaVersion(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if v != want {
		t.Errorf("schema version %d, want %d", v, want)
	}
}
