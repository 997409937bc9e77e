package sqlite

// schemaQueue adjusts the queue tables of migration 1 for the outbound
// queue: a flag so only one delay notice is sent per message, and an index
// for the claim query (due, unheld, by lease).
const schemaQueue = `
ALTER TABLE queue ADD COLUMN delay_notified INTEGER NOT NULL DEFAULT 0 CHECK (delay_notified IN (0, 1));
DROP INDEX queue_due;
CREATE INDEX queue_due ON queue (held, next_attempt, lease_until);
CREATE INDEX queue_created ON queue (created_at);
`

// schemaQueueSignDomain records, per queued message, the domain whose DKIM
// key signs it: messages are signed when they are delivered, not when they
// are accepted.
const schemaQueueSignDomain = `
ALTER TABLE queue ADD COLUMN sign_domain TEXT NOT NULL DEFAULT '';
`
