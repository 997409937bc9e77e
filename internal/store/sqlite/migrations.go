package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// A migration brings the schema from version Version-1 to Version.
type migration struct {
	Version int
	Name    string
	SQL     string
}

// migrations is the ordered schema history. Open applies, each in its own
// transaction, every migration newer than the version recorded in the
// schema_version table, and refuses a database recorded at a version newer
// than the last one here.
//
// To change the schema, append a migration: the next Version number, a short
// name and its SQL (one or more statements; put long scripts in their own
// file as a const). Never edit or reorder a migration that has shipped:
// databases in the field have already applied it. The migration tests in
// this package build a database at the previous version and upgrade it, so
// they exercise each new migration without further changes.
var migrations = []migration{
	{1, "initial", schemaV1},
	{2, "mailboxes", schemaMailboxes}, // mailbox_schema.go
	{3, "web", schemaWeb},             // web_schema.go
	{4, "queue", schemaQueue},         // queue_schema.go
	{5, "message filter", schemaMessageFilter},
	{6, "delivery intelligence", schemaDeliveryIntelligence}, // suppression_schema.go
	{7, "queue signing domain", schemaQueueSignDomain},       // queue_schema.go
}

// schemaV1 is the initial schema: everything but mailboxes and messages.
// Times are INTEGER Unix nanoseconds (UTC); NULL means unset.
const schemaV1 = `
CREATE TABLE users (
	id            INTEGER PRIMARY KEY AUTOINCREMENT,
	name          TEXT    NOT NULL UNIQUE,
	password_hash TEXT    NOT NULL DEFAULT '',
	admin         INTEGER NOT NULL DEFAULT 0 CHECK (admin IN (0, 1)),
	status        TEXT    NOT NULL CHECK (status IN ('pending', 'active', 'disabled')),
	quota_bytes   INTEGER NOT NULL DEFAULT 0,
	created_at    INTEGER NOT NULL
);

CREATE TABLE domains (
	apex          TEXT    PRIMARY KEY,
	dkim_selector TEXT    NOT NULL DEFAULT '',
	dkim_key_pem  TEXT    NOT NULL DEFAULT '',
	created_at    INTEGER NOT NULL
);

-- Apexes a user may create addresses on through the web app and API.
CREATE TABLE grants (
	user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	apex       TEXT    NOT NULL REFERENCES domains(apex) ON DELETE CASCADE,
	created_at INTEGER NOT NULL,
	PRIMARY KEY (user_id, apex)
);

-- Revoked addresses have no row.
CREATE TABLE addresses (
	id         INTEGER PRIMARY KEY AUTOINCREMENT,
	address    TEXT    NOT NULL UNIQUE,
	local      TEXT    NOT NULL,
	subdomain  TEXT    NOT NULL,
	apex       TEXT    NOT NULL REFERENCES domains(apex),
	state      TEXT    NOT NULL CHECK (state IN ('active', 'suspended')),
	created_at INTEGER NOT NULL,
	changed_at INTEGER NOT NULL
);
-- The DNS server asks which subdomains of an apex have an active address.
CREATE INDEX addresses_apex_subdomain ON addresses (apex, subdomain, state);

CREATE TABLE holdings (
	address_id    INTEGER NOT NULL REFERENCES addresses(id) ON DELETE CASCADE,
	user_id       INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	comment       TEXT    NOT NULL DEFAULT '',
	favorite      INTEGER NOT NULL DEFAULT 0 CHECK (favorite IN (0, 1)),
	created_at    INTEGER NOT NULL,
	received      INTEGER NOT NULL DEFAULT 0,
	last_received INTEGER,
	PRIMARY KEY (address_id, user_id)
);
CREATE INDEX holdings_user ON holdings (user_id, address_id);

CREATE TABLE tokens (
	id         INTEGER PRIMARY KEY AUTOINCREMENT,
	user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	hash       TEXT    NOT NULL UNIQUE,
	created_at INTEGER NOT NULL,
	last_used  INTEGER
);
CREATE INDEX tokens_user ON tokens (user_id);

-- The outbound queue: one row per message, one row per recipient. A message
-- leaves the queue when no recipient is pending any more. Workers of several
-- processes claim a due message by setting lease_owner and lease_until; an
-- expired lease makes it claimable again, so a crashed worker loses nothing.
CREATE TABLE queue (
	id           TEXT    PRIMARY KEY,
	sender       TEXT    NOT NULL,            -- envelope MAIL FROM; '' for a null reverse-path
	blob_key     TEXT    NOT NULL,            -- the spooled message (internal/blob)
	size         INTEGER NOT NULL DEFAULT 0,
	user_id      INTEGER REFERENCES users(id) ON DELETE SET NULL, -- submitting user, if any
	envid        TEXT    NOT NULL DEFAULT '', -- RFC 3461 4.4 ENVID
	ret          TEXT    NOT NULL DEFAULT '', -- RFC 3461 4.3 RET: '', 'FULL' or 'HDRS'
	dsn          INTEGER NOT NULL DEFAULT 0 CHECK (dsn IN (0, 1)), -- 1 if this message is itself a DSN
	attempts     INTEGER NOT NULL DEFAULT 0,
	next_attempt INTEGER NOT NULL,
	last_error   TEXT    NOT NULL DEFAULT '',
	held         INTEGER NOT NULL DEFAULT 0 CHECK (held IN (0, 1)),
	lease_owner  TEXT    NOT NULL DEFAULT '',
	lease_until  INTEGER NOT NULL DEFAULT 0,
	created_at   INTEGER NOT NULL
);
CREATE INDEX queue_due ON queue (held, next_attempt);

CREATE TABLE queue_recipients (
	queue_id     TEXT    NOT NULL REFERENCES queue(id) ON DELETE CASCADE,
	rcpt         TEXT    NOT NULL,
	state        TEXT    NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sent', 'failed')),
	notify       TEXT    NOT NULL DEFAULT '', -- RFC 3461 4.1 NOTIFY
	orcpt        TEXT    NOT NULL DEFAULT '', -- RFC 3461 4.2 ORCPT
	attempts     INTEGER NOT NULL DEFAULT 0,
	last_dsn     TEXT    NOT NULL DEFAULT '', -- enhanced status code of the last attempt
	last_error   TEXT    NOT NULL DEFAULT '',
	last_attempt INTEGER,
	PRIMARY KEY (queue_id, rcpt)
);

CREATE TABLE events (
	id       INTEGER PRIMARY KEY AUTOINCREMENT,
	time     INTEGER NOT NULL,
	tier     TEXT    NOT NULL,
	queue_id TEXT    NOT NULL DEFAULT '',
	rcpt     TEXT    NOT NULL DEFAULT '',
	delay_ns INTEGER NOT NULL DEFAULT 0,
	relay    TEXT    NOT NULL DEFAULT '',
	dsn      TEXT    NOT NULL DEFAULT '',
	status   TEXT    NOT NULL DEFAULT '',
	detail   TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX events_time ON events (time);
CREATE INDEX events_tier_time ON events (tier, time);

-- Recipients that bounced hard; outbound mail to them is refused until an
-- operator releases them.
CREATE TABLE suppressions (
	address    TEXT    PRIMARY KEY,
	reason     TEXT    NOT NULL DEFAULT '',
	created_at INTEGER NOT NULL
);

CREATE TABLE settings (
	key   TEXT PRIMARY KEY,
	value TEXT NOT NULL
);

CREATE TABLE audit (
	id     INTEGER PRIMARY KEY AUTOINCREMENT,
	time   INTEGER NOT NULL,
	actor  TEXT    NOT NULL,
	action TEXT    NOT NULL,
	target TEXT    NOT NULL DEFAULT '',
	detail TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX audit_time ON audit (time);
`

// createVersionTable is idempotent and runs before any migration.
const createVersionTable = `
CREATE TABLE IF NOT EXISTS schema_version (
	version    INTEGER PRIMARY KEY,
	name       TEXT    NOT NULL,
	applied_at INTEGER NOT NULL
)`

// ErrSchemaTooNew is returned by Open for a database written by a newer
// program: its schema version is higher than the last migration known here.
var ErrSchemaTooNew = errors.New("database schema is newer than this program")

// migrate applies migrations 1..upTo that the database lacks, each in its
// own transaction. Several processes may open the database at once: each
// transaction re-reads the version after taking the write lock, so a
// migration is applied exactly once.
func migrate(ctx context.Context, db *sql.DB, upTo int) error {
	if upTo < 0 || upTo > len(migrations) {
		return fmt.Errorf("migrate: no migration %d", upTo)
	}
	for i, m := range migrations {
		if m.Version != i+1 {
			return fmt.Errorf("migrate: migration %q has version %d, want %d", m.Name, m.Version, i+1)
		}
	}
	if _, err := db.ExecContext(ctx, createVersionTable); err != nil {
		return fmt.Errorf("migrate: create schema_version: %w", err)
	}
	v, err := schemaVersion(ctx, db)
	if err != nil {
		return err
	}
	if v > len(migrations) {
		return fmt.Errorf("migrate: database at version %d, this program knows up to %d: %w", v, len(migrations), ErrSchemaTooNew)
	}
	for _, m := range migrations[:upTo] {
		if m.Version <= v {
			continue
		}
		if err := apply(ctx, db, m); err != nil {
			return err
		}
	}
	return nil
}

// apply runs one migration in its own transaction, unless another process
// applied it first.
func apply(ctx context.Context, db *sql.DB, m migration) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migrate: %d %s: %w", m.Version, m.Name, err)
	}
	defer tx.Rollback()
	var v int
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_version`).Scan(&v); err != nil {
		return fmt.Errorf("migrate: %d %s: %w", m.Version, m.Name, err)
	}
	if v >= m.Version {
		return nil
	}
	if v != m.Version-1 {
		return fmt.Errorf("migrate: %d %s: database at version %d", m.Version, m.Name, v)
	}
	if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
		return fmt.Errorf("migrate: %d %s: %w", m.Version, m.Name, err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_version (version, name, applied_at) VALUES (?, ?, ?)`,
		m.Version, m.Name, nanos(now())); err != nil {
		return fmt.Errorf("migrate: %d %s: record version: %w", m.Version, m.Name, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migrate: %d %s: commit: %w", m.Version, m.Name, err)
	}
	return nil
}

// schemaVersion returns the highest applied migration, 0 for a new database.
func schemaVersion(ctx context.Context, db *sql.DB) (int, error) {
	var v int
	if err := db.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_version`).Scan(&v); err != nil {
		return 0, fmt.Errorf("migrate: read schema version: %w", err)
	}
	return v, nil
}

// SchemaVersion returns the schema version of the open database.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	return schemaVersion(ctx, s.db)
}

// LatestSchemaVersion is the schema version this program creates.
func LatestSchemaVersion() int { return len(migrations) }
