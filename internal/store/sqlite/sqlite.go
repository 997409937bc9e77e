// Package sqlite is the embedded backend of the metadata store: it
// implements store.Store on one SQLite database file through the pure-Go
// driver modernc.org/sqlite.
//
// It is in charge of the database file (created with mode 0600), the
// connection settings every pooled connection gets (WAL journal, foreign
// keys, a busy timeout, synchronous=FULL so an acknowledged write survives a
// crash or power loss), the versioned schema migrations (migrations.go) and
// the mapping of SQLite errors onto the store's sentinel errors.
//
// Several processes may share one database file (the CLI runs while the
// server runs). Every read-write transaction starts with BEGIN IMMEDIATE, so
// a second writer waits on the busy timeout instead of failing when it would
// have to upgrade a read lock. Within one process writers take turns before
// they take a pooled connection (lockWriter).
//
// It is not in charge of policy (which names are valid, who may do what):
// that belongs to the domain packages that call the store.
//
// Times are stored as INTEGER Unix nanoseconds and returned in UTC; an
// optional time that is unset (the zero time.Time) is stored as NULL.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/cabalmail/cabalmail/internal/store"
)

// Store is the SQLite implementation of store.Store. It is safe for
// concurrent use by many goroutines, and several Stores (in one or several
// processes) may share one database file.
type Store struct {
	db    *sql.DB
	path  string
	stmts stmtCache // stmts.go
	// writer admits one writing transaction of this process at a time
	// (see lockWriter).
	writer chan struct{}
}

var _ store.Store = (*Store)(nil)

// busyTimeout is how long a connection waits for another writer's lock
// before giving up with SQLITE_BUSY.
const busyTimeout = 10 * time.Second

// maxOpenConns bounds the pool. Writers serialize on the database lock
// anyway; the bound keeps file descriptors and page caches in check.
const maxOpenConns = 16

// Open opens (creating it if needed, with mode 0600) the database at path
// and applies the schema migrations it lacks. It refuses a database whose
// schema is newer than this program knows.
func Open(ctx context.Context, path string) (*Store, error) {
	return open(ctx, path, len(migrations))
}

// open is Open with the schema brought up to version upTo only; tests use it
// to build databases at older versions.
func open(ctx context.Context, path string, upTo int) (*Store, error) {
	if path == "" {
		return nil, errors.New("sqlite: open: empty database path")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	if err := createFile(abs); err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	db, err := sql.Open("sqlite", dsn(abs))
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	db.SetMaxOpenConns(maxOpenConns)
	// Under load (an MX with a few dozen sessions each looking up its
	// recipients) more than a handful of connections are busy at once;
	// with fewer idle ones kept, each burst closed connections and the
	// next opened them again, reading the schema and preparing the cached
	// statements anew. Idle connections are closed after a minute instead.
	db.SetMaxIdleConns(maxOpenConns)
	db.SetConnMaxIdleTime(time.Minute)
	s := &Store{db: db, path: abs, writer: make(chan struct{}, 1)}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	if err := migrate(ctx, db, upTo); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	return s, nil
}

// createFile creates the database file with mode 0600 if it does not exist,
// so SQLite never creates it with the process umask. SQLite gives the -wal
// and -shm files the mode of the database file.
func createFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	return f.Close()
}

// dsn builds the driver's data source name. The pragmas go in _pragma
// parameters so that every connection the pool opens gets them, not only the
// first one.
func dsn(path string) string {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeout.Milliseconds()))
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "foreign_keys(ON)")
	// Durability: with WAL, synchronous=NORMAL may lose the last commits on
	// power loss; FULL fsyncs the WAL at every commit.
	q.Add("_pragma", "synchronous(FULL)")
	// BEGIN IMMEDIATE takes the write lock up front, so concurrent writers
	// queue on the busy timeout instead of failing on a lock upgrade.
	q.Set("_txlock", "immediate")
	u := url.URL{Scheme: "file", Path: path, RawQuery: q.Encode()}
	// url.URL writes "file:///abs/path" for an absolute path, which SQLite
	// reads as a URI with an empty authority.
	return u.String()
}

// Close releases the store's connections.
func (s *Store) Close() error {
	s.closeStmts()
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("sqlite: close: %w", err)
	}
	return nil
}

// Path returns the absolute path of the database file.
func (s *Store) Path() string { return s.path }

// readTx runs fn in a read-only transaction, which sees one snapshot of the
// database.
func (s *Store) readTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}

// writeTx runs fn in a read-write transaction (BEGIN IMMEDIATE) and commits
// it if fn succeeds. It holds the process's writer turn throughout.
func (s *Store) writeTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	if err := s.lockWriter(ctx); err != nil {
		return err
	}
	defer s.unlockWriter()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}

// execOnce runs one writing statement outside a transaction, unprepared,
// in the process's writer turn like writeTx.
func (s *Store) execOnce(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if err := s.lockWriter(ctx); err != nil {
		return nil, err
	}
	defer s.unlockWriter()
	return s.db.ExecContext(ctx, query, args...)
}

// errWriterBusy is returned when this process's writer turn did not come
// within busyTimeout, as SQLite returns SQLITE_BUSY for another process's
// lock.
var errWriterBusy = fmt.Errorf("database is busy: no turn to write within %v", busyTimeout)

// lockWriter waits for this process's turn to write; unlockWriter ends it.
// Every writing transaction and statement of the process takes the turn
// before it takes a pooled connection. Without it, writers waiting for
// SQLite's lock each held a connection while they waited (in SQLite's busy
// handler), and a transaction that needed a second connection from the
// pool (preparing a statement for the cache, stmts.go) could find the pool
// taken by the writers waiting for its own lock: all of them stalled
// until the busy timeout and failed with SQLITE_BUSY. The MX answered 451
// to a burst of first deliveries that way. Writers of other processes (the
// CLI) still meet SQLite's lock and busy timeout.
func (s *Store) lockWriter(ctx context.Context) error {
	select {
	case s.writer <- struct{}{}:
		return nil
	default:
	}
	t := time.NewTimer(busyTimeout)
	defer t.Stop()
	select {
	case s.writer <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return errWriterBusy
	}
}

func (s *Store) unlockWriter() { <-s.writer }

// mapErr translates SQLite constraint errors into the store's sentinel
// errors, keeping the driver's message for the reader. Other errors pass
// through unchanged.
func mapErr(err error) error {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return err
	}
	switch se.Code() {
	case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
		return fmt.Errorf("%w: %v", store.ErrExists, err)
	case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
		return fmt.Errorf("%w: %v", store.ErrNotFound, err)
	}
	return err
}

// notFound maps sql.ErrNoRows to store.ErrNotFound, naming what was missing.
func notFound(err error, what string) error {
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%s: %w", what, store.ErrNotFound)
	}
	return err
}

// The instants an int64 of Unix nanoseconds can hold: years 1677 to 2262.
var (
	minTime = time.Unix(0, math.MinInt64)
	maxTime = time.Unix(0, math.MaxInt64)
)

// checkTimes refuses times the store cannot represent, rather than storing
// a wrapped-around value. Unset (zero) times are fine: they mean "now" or
// NULL.
func checkTimes(ts ...time.Time) error {
	for _, t := range ts {
		if !t.IsZero() && (t.Before(minTime) || t.After(maxTime)) {
			return fmt.Errorf("%w time %s: outside the years 1678 to 2261", store.ErrInvalid, t.UTC().Format(time.RFC3339))
		}
	}
	return nil
}

// nanos converts a time to its stored form. Callers check the range first
// (checkTimes) or use clampNanos.
func nanos(t time.Time) int64 { return t.UnixNano() }

// clampNanos converts a time used as a bound in a query, saturating at the
// representable range.
func clampNanos(t time.Time) int64 {
	switch {
	case t.Before(minTime):
		return math.MinInt64
	case t.After(maxTime):
		return math.MaxInt64
	}
	return t.UnixNano()
}

// nullNanos converts an optional time to its stored form: NULL when unset.
func nullNanos(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixNano(), Valid: true}
}

// fromNanos converts a stored time back, in UTC.
func fromNanos(n int64) time.Time { return time.Unix(0, n).UTC() }

// fromNullNanos converts a stored optional time back: the zero time for NULL.
func fromNullNanos(n sql.NullInt64) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return fromNanos(n.Int64)
}

// now is the current time as the store records it: UTC, without the
// monotonic reading, so the value a caller gets back equals what a later
// read returns.
func now() time.Time { return time.Now().UTC().Round(0) }

// orNow returns t in UTC, or the current time if t is unset.
func orNow(t time.Time) time.Time {
	if t.IsZero() {
		return now()
	}
	return t.UTC().Round(0)
}

// boolInt stores a bool as 0 or 1.
func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
