package sqlite

// schemaWeb adds what the web app keeps: browser sessions, invite codes and
// TOTP secrets. Times are INTEGER Unix nanoseconds (UTC), as everywhere.
const schemaWeb = `
CREATE TABLE web_sessions (
	id         INTEGER PRIMARY KEY AUTOINCREMENT,
	hash       TEXT    NOT NULL UNIQUE,
	user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	csrf       TEXT    NOT NULL,
	mfa        INTEGER NOT NULL DEFAULT 0 CHECK (mfa IN (0, 1)),
	created_at INTEGER NOT NULL,
	expires_at INTEGER NOT NULL
);
CREATE INDEX web_sessions_user ON web_sessions (user_id);
CREATE INDEX web_sessions_expiry ON web_sessions (expires_at);

CREATE TABLE web_invites (
	id         INTEGER PRIMARY KEY AUTOINCREMENT,
	hash       TEXT    NOT NULL UNIQUE,
	created_by TEXT    NOT NULL,
	note       TEXT    NOT NULL DEFAULT '',
	created_at INTEGER NOT NULL,
	expires_at INTEGER NOT NULL,
	used_by    TEXT    NOT NULL DEFAULT '',
	used_at    INTEGER
);

CREATE TABLE web_totp (
	user_id    INTEGER PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
	secret     BLOB    NOT NULL,
	enabled    INTEGER NOT NULL DEFAULT 0 CHECK (enabled IN (0, 1)),
	last_step  INTEGER NOT NULL DEFAULT 0,
	created_at INTEGER NOT NULL
);
`
