package sqlite

// schemaMailboxes adds mailboxes and the message index (migration 2).
//
// A delivered or appended message is one message_data row (its body's blob
// key and the parse cached by internal/mailbox) and one messages row per
// mailbox holding it: a delivery to several users, and COPY, share the data
// row and the blob. When the last messages row of a data row goes, the
// trigger messages_release deletes the data row and lists the blob in
// blob_garbage; that covers EXPUNGE, DELETE of a mailbox and the cascade
// from deleting a user alike. internal/mailbox deletes listed blobs after a
// grace period.
//
// UIDVALIDITY is the mailbox's id: AUTOINCREMENT never reuses one, so a
// mailbox deleted and created again under the same name gets a new
// UIDVALIDITY (RFC 3501 2.3.1.1).
const schemaMailboxes = `
CREATE TABLE mailboxes (
	id             INTEGER PRIMARY KEY AUTOINCREMENT,
	user_id        INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	name           TEXT    NOT NULL,
	special_use    TEXT    NOT NULL DEFAULT '',
	uidvalidity    INTEGER NOT NULL,
	uidnext        INTEGER NOT NULL DEFAULT 1,
	highest_modseq INTEGER NOT NULL DEFAULT 1,
	keywords       TEXT    NOT NULL DEFAULT '', -- space-separated
	messages       INTEGER NOT NULL DEFAULT 0,
	unseen         INTEGER NOT NULL DEFAULT 0,
	deleted        INTEGER NOT NULL DEFAULT 0,
	size           INTEGER NOT NULL DEFAULT 0,
	created_at     INTEGER NOT NULL,
	UNIQUE (user_id, name)
);

CREATE TABLE subscriptions (
	user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	name    TEXT    NOT NULL,
	PRIMARY KEY (user_id, name)
) WITHOUT ROWID;

CREATE TABLE message_data (
	id        INTEGER PRIMARY KEY,
	blob_key  TEXT    NOT NULL,
	envelope  BLOB    NOT NULL,
	structure BLOB    NOT NULL,
	header    BLOB    NOT NULL,
	search    BLOB    NOT NULL
);
CREATE INDEX message_data_blob ON message_data (blob_key);

-- Clustered by (mailbox_id, uid): loading a mailbox's index reads one
-- contiguous range.
CREATE TABLE messages (
	mailbox_id    INTEGER NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
	uid           INTEGER NOT NULL,
	modseq        INTEGER NOT NULL,
	flags         INTEGER NOT NULL DEFAULT 0,
	keywords      TEXT    NOT NULL DEFAULT '',
	size          INTEGER NOT NULL,
	internal_date INTEGER NOT NULL,
	sent_date     INTEGER,
	data_id       INTEGER NOT NULL REFERENCES message_data(id),
	PRIMARY KEY (mailbox_id, uid)
) WITHOUT ROWID;
CREATE INDEX messages_modseq ON messages (mailbox_id, modseq);
CREATE INDEX messages_data ON messages (data_id);

-- Expunged UIDs with the mod-sequence of their expunge (RFC 7162 QRESYNC).
CREATE TABLE expunged (
	mailbox_id INTEGER NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
	uid        INTEGER NOT NULL,
	modseq     INTEGER NOT NULL,
	PRIMARY KEY (mailbox_id, uid)
) WITHOUT ROWID;
CREATE INDEX expunged_modseq ON expunged (mailbox_id, modseq);

-- Bodies no message references any more, waiting to be deleted.
CREATE TABLE blob_garbage (
	key        TEXT    PRIMARY KEY,
	created_at INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TRIGGER messages_release AFTER DELETE ON messages
WHEN NOT EXISTS (SELECT 1 FROM messages WHERE data_id = OLD.data_id)
BEGIN
	INSERT OR IGNORE INTO blob_garbage (key, created_at)
		SELECT blob_key, CAST(unixepoch('subsec') * 1000000000 AS INTEGER)
		FROM message_data WHERE id = OLD.data_id;
	DELETE FROM message_data WHERE id = OLD.data_id;
END;
`

// schemaMessageFilter adds the search prefilter internal/mailbox computes
// for each message (migration 5), in a table of its own so that a search
// reads only the small filters, not the wide message_data rows. Messages
// stored before have none.
const schemaMessageFilter = `
CREATE TABLE message_filters (
	data_id INTEGER PRIMARY KEY REFERENCES message_data(id) ON DELETE CASCADE,
	filter  BLOB    NOT NULL
);
`
