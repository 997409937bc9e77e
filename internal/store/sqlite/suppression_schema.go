package sqlite

// schemaDeliveryIntelligence replaces migration 1's bare suppressions table
// (one row per address, deleted on release) with per-user suppression lists
// that keep their history, and adds what provider outage detection shares
// between processes: attempts per provider, provider states, the
// recipients that accepted mail (by hash), and quarantined recipients.
const schemaDeliveryIntelligence = `
DROP TABLE suppressions;

-- A row per suppression; released rows stay, saying who released them.
CREATE TABLE suppression (
	id          INTEGER PRIMARY KEY AUTOINCREMENT,
	user_id     INTEGER NOT NULL DEFAULT 0, -- the sending user (0: system mail); kept if the user is deleted
	address     TEXT    NOT NULL,
	reason      TEXT    NOT NULL DEFAULT '',
	code        TEXT    NOT NULL DEFAULT '',
	text        TEXT    NOT NULL DEFAULT '',
	provider    TEXT    NOT NULL DEFAULT '',
	queue_id    TEXT    NOT NULL DEFAULT '',
	created_at  INTEGER NOT NULL,
	released_at INTEGER,
	released_by TEXT    NOT NULL DEFAULT ''
);
-- At most one entry in force per user and address.
CREATE UNIQUE INDEX suppression_active ON suppression (user_id, address) WHERE released_at IS NULL;
CREATE INDEX suppression_address ON suppression (address, created_at);

CREATE TABLE provider_attempts (
	id            INTEGER PRIMARY KEY AUTOINCREMENT,
	provider      TEXT    NOT NULL,
	time          INTEGER NOT NULL,
	result        TEXT    NOT NULL CHECK (result IN ('sent', 'deferred', 'bounced')),
	known_unknown INTEGER NOT NULL DEFAULT 0 CHECK (known_unknown IN (0, 1))
);
CREATE INDEX provider_attempts_provider_time ON provider_attempts (provider, time);
CREATE INDEX provider_attempts_time ON provider_attempts (time);

CREATE TABLE providers (
	name       TEXT    PRIMARY KEY,
	state      TEXT    NOT NULL CHECK (state IN ('healthy', 'suspect', 'confirmed')),
	since      INTEGER NOT NULL,
	until      INTEGER,
	reason     TEXT    NOT NULL DEFAULT '',
	changed_by TEXT    NOT NULL DEFAULT '',
	count_from INTEGER
);

-- Recipients that accepted our mail, by SHA-256 of the address.
CREATE TABLE accepted_recipients (
	rcpt_key TEXT    PRIMARY KEY,
	first_at INTEGER NOT NULL,
	last_at  INTEGER NOT NULL,
	count    INTEGER NOT NULL DEFAULT 1
);

CREATE TABLE quarantine (
	id          INTEGER PRIMARY KEY AUTOINCREMENT,
	provider    TEXT    NOT NULL,
	rcpt        TEXT    NOT NULL,
	user_id     INTEGER NOT NULL DEFAULT 0,
	queue_id    TEXT    NOT NULL DEFAULT '',
	code        TEXT    NOT NULL DEFAULT '',
	text        TEXT    NOT NULL DEFAULT '',
	reason      TEXT    NOT NULL DEFAULT '',
	created_at  INTEGER NOT NULL,
	resolved_at INTEGER,
	resolution  TEXT    NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX quarantine_open ON quarantine (rcpt) WHERE resolved_at IS NULL;
CREATE INDEX quarantine_provider ON quarantine (provider, created_at);
`
