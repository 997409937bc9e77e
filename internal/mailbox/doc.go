// Package mailbox is the mailbox store: every user's mailboxes and the
// messages in them, as the IMAP server and the delivery tiers see them.
//
// It is in charge of mailbox names and hierarchy (delimiter '/'), the
// special-use set created on first use (INBOX, Drafts, Sent, Junk, Trash,
// Archive; RFC 6154), subscriptions, UIDs, UIDVALIDITY and mod-sequences
// (RFC 7162), flags and keywords, quotas, parsing each message once when it
// arrives (envelope, body structure and section offsets, kept in the store
// so FETCH never re-parses), header and body searches, durable group-commit
// of appends and deliveries, and telling every session of a user about
// changes made by others, in this process or another one sharing the store.
//
// It is not in charge of any protocol: it imports neither go-imap nor
// go-smtp, and leaves sequence-number responses, modified UTF-7 and
// response codes to the servers that use it.
package mailbox
