// Package mailbox is the mailbox store: every user's mailboxes and the
// messages in them, as the IMAP server and the delivery tiers see them.
//
// It is in charge of mailbox names and hierarchy, the special-use set
// created on first use, subscriptions, UIDs, UIDVALIDITY and mod-sequences,
// flags and keywords, quotas, parsing each message once when it arrives,
// header and body searches, durable group-committed appends and deliveries,
// and telling every session of a user about changes made by others, in this
// process or in another one sharing the store. It imports no protocol
// package (neither go-imap nor go-smtp): sequence-number responses, modified
// UTF-7, response codes and literal handling belong to the servers.
//
// # Data
//
// The index (mailboxes, message rows, flags, tombstones) lives in the
// metadata store (store.Mailboxes); bodies are blobs (DESIGN.md §3), stored
// exactly as IMAP serves them: bare LF line endings are turned into CRLF on
// the way in, so RFC822.SIZE and every section offset match the stored bytes.
// A delivery to several users stores the body once; COPY shares bodies.
//
// Each message is parsed once, at Append or Deliver (Parse): its ENVELOPE,
// its body structure with the byte offsets of every part's header and body
// (Part, Part.Section), the raw header block, and the decoded, lower-cased
// values of the common header fields (searchFields) are kept in its row, so
// FETCH never re-parses and BODY[1.2.MIME], HEADER.FIELDS and friends are
// byte ranges of the blob (View.OpenBody, FilterHeader). The parser never
// fails: what cannot be read is described as text/plain.
//
// # Names
//
// Names are UTF-8 (servers convert modified UTF-7), with '/' as hierarchy
// delimiter; INBOX is case-insensitive. CanonicalName refuses empty levels,
// control characters, '*' and '%', and names over 512 bytes (255 per level,
// 32 levels). Create makes missing parents. Delete refuses INBOX and keeps
// children: the deleted parent then shows in List as NonExistent (LIST
// reports \NonExistent \Noselect). Rename moves children and their
// subscriptions along; renaming INBOX moves its messages into a new mailbox
// and leaves INBOX empty (RFC 3501 6.3.5). UIDVALIDITY is the mailbox's
// store ID, which is never reused, so a name deleted and created again gets
// a new one.
//
// # Durability and group commit
//
// Append and Deliver write the body to the blob store, then hand the row to
// one committer goroutine, which commits every row waiting in one store
// transaction (one fsync) and answers each caller only after that commit;
// callers arriving during a commit make the next batch. With a blob store
// that can sync a group (blob.Dir through BlobsOf), bodies are written
// without fsync and the committer makes the whole batch's bodies durable
// at once (files fsynced concurrently, each directory once) before it
// commits their rows; otherwise each body is durable when Put returns. So
// bodies are always durable before their rows, and rows before the caller
// is answered. A body whose row could not be committed is deleted at once;
// a crash between the two leaves an orphan body, never a row without a
// body, and SweepOrphans removes orphans (only when Options.OwnsBlobs says
// the blob store is the mailbox store's alone). Bodies that no row references
// any more (expunge, mailbox or user deleted) are listed by the store and
// deleted by the sweeper after Options.GarbageGrace.
//
// # Indexes, views and change notification
//
// Each mailbox in use has one in-memory index per process (UIDs, flags,
// keywords, mod-sequences, sizes, dates), shared by all its sessions and
// brought up to date from the store by mod-sequence: SELECT reads only what
// changed since the index's HIGHESTMODSEQ and shares the index's UID list,
// and FETCH FLAGS and SEARCH on flags, dates and sizes never query the
// store. A View is one session's window on an index: it keeps the sequence
// numbers the session knows and reports, in Sync, the expunges (with their
// sequence numbers, or as UIDs for VANISHED), new messages and flag changes
// since, holding expunges back while the session may not be told (RFC 3501
// 7.4.1). Changes made through this Store update the indexes before the
// call returns and wake the views (View.Updated) and watchers (Watch) at
// once; changes made by other processes are found by polling the store
// every Options.PollInterval (500ms by default) for the users this process
// serves (those with watchers or a loaded index, idle ones included).
// Expunges are kept as tombstones with their mod-sequence, for EXPUNGE and
// VANISHED and for QRESYNC (View.ExpungedSince).
//
// Select (and Warm) read nothing from the store when the poller looked at
// the user's mailboxes within 2*PollInterval, this process has created,
// deleted or renamed none of them since, and the index already holds what
// that look saw: the name is resolved from the look and the index is
// used as is. A change another process made since the look then shows a
// poll later, as it does for a view already open; otherwise (a name not
// in the look, an index behind it, a renamed or deleted mailbox) Select
// asks the store as before. The index keeps the sequence number of its
// first unseen message until its next change, so FirstUnseen does not
// walk a large mailbox on every SELECT.
//
// # Search
//
// SearchHeader matches a case-insensitive substring after decoding encoded
// words; the common fields are searched in a per-mailbox memory cache built
// on first use from the rows' decoded fields, other fields from the stored
// header blocks. SearchBody and SearchText match the decoded text (base64,
// quoted-printable and charsets to UTF-8) of the text parts and attached
// messages' headers. There is no word index, since IMAP asks for
// substrings: instead each message gets, when it arrives, a Bloom filter of
// the trigrams of that text (filter.go), kept in memory while a view uses
// the mailbox; a search reads, with parallel workers, only the bodies whose
// filter may hold every trigram of the term, and matches them for real, so
// answers are exact. Short or very common terms still read most bodies.
//
// # Quota
//
// A user's limit is store.User.QuotaBytes, or Options.DefaultQuota when that
// is 0 (a negative QuotaBytes means no limit); 0 means no limit. Append,
// Deliver and Copy check it inside the commit, against the usage read in
// the commit's transaction, and refuse with ErrOverQuota. Deliver and
// CheckQuota take the limit from a per-user cache refreshed every 5
// seconds, so a changed limit applies to deliveries within that time;
// Deliver also caches each user's INBOX ID (which never changes), and so
// costs no query but the commit.
//
// # Changes to the API
//
// Options.Blobs takes a BlobStore; wrap a blob.Store with BlobsOf.
// View.OpenBody returns a blob.Reader (an io.ReadSeekCloser with ReadAt and
// Size). Added since first published: View.AppendMessages
// (Messages into a reused slice), Store.SweepGarbage and
// Store.SweepOrphans (for operators and tests), Store.Warm (call it at
// login so the first SELECT and SEARCH do not wait for the INBOX index to
// load), BlobsOf, ParseFlags, Flags.Names and Flags.Has, CanonicalName,
// Part.Section and FilterHeader.
package mailbox
