package sqlite

import (
	"context"
	"database/sql"
	"sync"
)

// stmtCache keeps the statements of the hot paths (every SMTP RCPT, every
// queued or delivered message, every IMAP message read) prepared:
// database/sql prepares a cached *sql.Stmt once per pool connection and
// reuses it, and Tx.StmtContext reuses the connection's preparation inside
// a transaction, so SQLite parses each query once per connection instead
// of once per call.
//
// Only queries from a bounded set go through it (constant strings, or
// strings built from a few flags): it never forgets a statement.
type stmtCache struct {
	m  sync.Map   // query string -> *sql.Stmt; read without locking
	mu sync.Mutex // serializes preparation, so a query is prepared once
}

// stmt returns the cached statement of query, preparing it on first use.
func (s *Store) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	if st, ok := s.stmts.m.Load(query); ok {
		return st.(*sql.Stmt), nil
	}
	c := &s.stmts
	c.mu.Lock()
	defer c.mu.Unlock()
	if st, ok := c.m.Load(query); ok {
		return st.(*sql.Stmt), nil
	}
	st, err := s.db.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	c.m.Store(query, st)
	return st, nil
}

// txStmt is stmt bound to tx. The bound statement is closed with the
// transaction; the cached one stays.
func (s *Store) txStmt(ctx context.Context, tx *sql.Tx, query string) (*sql.Stmt, error) {
	st, err := s.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return tx.StmtContext(ctx, st), nil
}

// closeStmts closes the cached statements (before the pool is closed).
func (s *Store) closeStmts() {
	c := &s.stmts
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m.Range(func(k, v any) bool {
		_ = v.(*sql.Stmt).Close()
		c.m.Delete(k)
		return true
	})
}

// queryRow runs a single-row query of the bounded set through the cache.
// If preparing fails it runs the query unprepared, so the *sql.Row carries
// the same error the caller would have had.
func (s *Store) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	st, err := s.stmt(ctx, query)
	if err != nil {
		return s.db.QueryRowContext(ctx, query, args...)
	}
	return st.QueryRowContext(ctx, args...)
}

// query runs a query of the bounded set through the cache.
func (s *Store) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	st, err := s.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

// exec runs a writing statement of the bounded set through the cache, in
// the process's writer turn (see lockWriter).
func (s *Store) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	st, err := s.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	if err := s.lockWriter(ctx); err != nil {
		return nil, err
	}
	defer s.unlockWriter()
	return st.ExecContext(ctx, args...)
}

// txStmts is a querier on one transaction that runs its queries through
// the store's cache, binding each to the transaction once, so a batch of
// many messages neither parses nor binds a statement per message. Only
// queries of the bounded set may go through it.
type txStmts struct {
	s  *Store
	tx *sql.Tx
	m  map[string]*sql.Stmt
}

// cached returns the caching querier of tx.
func (s *Store) cached(tx *sql.Tx) *txStmts { return &txStmts{s: s, tx: tx} }

func (t *txStmts) get(ctx context.Context, query string) (*sql.Stmt, error) {
	if st, ok := t.m[query]; ok {
		return st, nil
	}
	st, err := t.s.txStmt(ctx, t.tx, query)
	if err != nil {
		return nil, err
	}
	if t.m == nil {
		t.m = map[string]*sql.Stmt{}
	}
	t.m[query] = st
	return st, nil
}

func (t *txStmts) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	st, err := t.get(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(ctx, args...)
}

func (t *txStmts) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	st, err := t.get(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

// QueryRowContext falls back to the unprepared query if preparing fails,
// so the *sql.Row carries the error.
func (t *txStmts) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	st, err := t.get(ctx, query)
	if err != nil {
		return t.tx.QueryRowContext(ctx, query, args...)
	}
	return st.QueryRowContext(ctx, args...)
}

// storeStmts is a querier on the pool that runs queries of the bounded
// set through the cache.
type storeStmts struct{ s *Store }

func (q storeStmts) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return q.s.exec(ctx, query, args...)
}

func (q storeStmts) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return q.s.query(ctx, query, args...)
}

func (q storeStmts) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	return q.s.queryRow(ctx, query, args...)
}
