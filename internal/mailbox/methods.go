package mailbox

import (
	"context"
	"errors"
	"io"
)

// Store is the mailbox store of one process: it owns the in-memory indexes
// of the mailboxes in use, the group committer, the change feed and the
// garbage sweeper. It is safe for concurrent use.
type Store struct {
	opts Options
}

// View is one session's view of a selected mailbox: the sequence numbers
// it has announced, and the changes it has yet to report. Its methods must
// not be called concurrently, except Updated.
type View struct {
	s *Store
}

var errTODO = errors.New("mailbox: not implemented yet")

// Open starts a mailbox store on opts.Store and opts.Blobs.
func Open(ctx context.Context, opts Options) (*Store, error) { return nil, errTODO }

// Close stops the background work. Views must be closed first.
func (s *Store) Close() error { return nil }

// List returns the user's mailboxes by name, INBOX first, creating the
// special-use set on first use; parents of mailboxes that do not exist are
// included as NonExistent.
func (s *Store) List(ctx context.Context, userID int64) ([]MailboxInfo, error) { return nil, errTODO }

// Subscriptions returns the names the user subscribed to; they need not
// exist.
func (s *Store) Subscriptions(ctx context.Context, userID int64) ([]string, error) {
	return nil, errTODO
}

// Create makes a mailbox and any missing parents (RFC 3501 6.3.3). use
// may name an RFC 6154 attribute (CREATE-SPECIAL-USE, RFC 6154 3).
func (s *Store) Create(ctx context.Context, userID int64, name string, use SpecialUse) error {
	return errTODO
}

// Delete removes a mailbox and its messages. INBOX cannot be deleted.
// Children are kept; the deleted name stays in List as NonExistent while
// it has children (RFC 3501 6.3.4).
func (s *Store) Delete(ctx context.Context, userID int64, name string) error { return errTODO }

// Rename renames a mailbox and its children. Renaming INBOX moves its
// messages to a new mailbox and leaves INBOX empty (RFC 3501 6.3.5).
func (s *Store) Rename(ctx context.Context, userID int64, oldName, newName string) error {
	return errTODO
}

// Subscribe adds name to the user's subscriptions (RFC 3501 6.3.6).
func (s *Store) Subscribe(ctx context.Context, userID int64, name string) error { return errTODO }

// Unsubscribe removes name from the user's subscriptions (RFC 3501 6.3.7).
func (s *Store) Unsubscribe(ctx context.Context, userID int64, name string) error { return errTODO }

// Status returns the counters of a mailbox (RFC 3501 6.3.10).
func (s *Store) Status(ctx context.Context, userID int64, name string) (Status, error) {
	return Status{}, errTODO
}

// Append stores a message in a mailbox (RFC 3501 6.3.11). It returns once
// the body and its index row are on stable storage.
func (s *Store) Append(ctx context.Context, userID int64, name string, r io.Reader, opts AppendOptions) (AppendResult, error) {
	return AppendResult{}, errTODO
}

// Deliver stores one message for each user (in INBOX, or opts.Mailbox),
// writing the body once. It returns once everything is on stable storage.
// The error is for the whole delivery (nothing was stored); per-user
// failures such as ErrOverQuota are in the Delivery entries.
func (s *Store) Deliver(ctx context.Context, users []int64, r io.Reader, opts DeliverOptions) ([]Delivery, error) {
	return nil, errTODO
}

// Quota returns the user's usage and limit.
func (s *Store) Quota(ctx context.Context, userID int64) (Quota, error) { return Quota{}, errTODO }

// CheckQuota returns an error wrapping ErrOverQuota if a message of size
// bytes would take the user over quota (for SMTP RCPT/SIZE checks).
func (s *Store) CheckQuota(ctx context.Context, userID int64, size int64) error { return errTODO }

// Watch returns a channel that receives a value (coalesced) whenever one of
// the user's mailboxes changes, in this process at once or in another
// process sharing the store within PollInterval, and a function to stop.
func (s *Store) Watch(userID int64) (<-chan struct{}, func()) { return nil, func() {} }

// Select opens a view of a mailbox for a session (SELECT or EXAMINE).
func (s *Store) Select(ctx context.Context, userID int64, name string) (*View, error) {
	return nil, errTODO
}

// Close ends the view.
func (v *View) Close() error { return nil }

// Mailbox returns the selected mailbox's entry.
func (v *View) Mailbox() MailboxInfo { return MailboxInfo{} }

// Status returns the counters as of the last Sync (or Select).
func (v *View) Status() Status { return Status{} }

// Keywords returns the keywords defined in the mailbox (for FLAGS and
// PERMANENTFLAGS).
func (v *View) Keywords() []string { return nil }

// UIDs returns the UIDs of the view in sequence order: sequence number n
// is UIDs()[n-1]. The slice is valid until the next Sync; do not modify.
func (v *View) UIDs() []uint32 { return nil }

// SeqNum returns the sequence number of uid, or 0 if it is not in the view.
func (v *View) SeqNum(uid uint32) uint32 { return 0 }

// FirstUnseen returns the sequence number of the first message without
// \Seen, or 0.
func (v *View) FirstUnseen() uint32 { return 0 }

// Messages returns the metadata of the messages of uids (ascending) that
// still exist, from memory.
func (v *View) Messages(uids []uint32) []Message { return nil }

// ChangedSince returns the messages of the view with a mod-sequence above
// modseq (RFC 7162 CHANGEDSINCE).
func (v *View) ChangedSince(modseq uint64) []Message { return nil }

// ExpungedSince returns the UIDs expunged with a mod-sequence above modseq
// (RFC 7162 QRESYNC VANISHED (EARLIER)).
func (v *View) ExpungedSince(ctx context.Context, modseq uint64) ([]uint32, error) {
	return nil, errTODO
}

// Parsed returns the cached envelope and body structure of the messages
// of uids that still exist, in UID order.
func (v *View) Parsed(ctx context.Context, uids []uint32) ([]Parsed, error) { return nil, errTODO }

// OpenBody opens the stored message of uid. Sections are byte ranges given
// by its Parsed structure.
func (v *View) OpenBody(ctx context.Context, uid uint32) (io.ReadSeekCloser, error) {
	return nil, errTODO
}

// Sync brings the view up to date and returns what to tell the session.
// With allowExpunge false (during FETCH, STORE, SEARCH by sequence number,
// RFC 3501 7.4.1) expunged messages stay in the view.
func (v *View) Sync(ctx context.Context, allowExpunge bool) (Changes, error) {
	return Changes{}, errTODO
}

// Updated returns a channel that receives a value when the mailbox may
// have changed; call Sync then (IDLE).
func (v *View) Updated() <-chan struct{} { return nil }

// StoreFlags changes the flags of the messages of uids (ascending). It
// returns the messages whose flags changed and, for UNCHANGEDSINCE, the
// UIDs left alone because they were modified.
func (v *View) StoreFlags(ctx context.Context, uids []uint32, op FlagOp, flags Flags, opts StoreOptions) (updated []Message, modified []uint32, err error) {
	return nil, nil, errTODO
}

// Expunge removes the messages with \Deleted, all of them (uids nil) or
// those of uids (UID EXPUNGE, RFC 4315 2.1), and returns their UIDs. The
// view itself learns of them at the next Sync.
func (v *View) Expunge(ctx context.Context, uids []uint32) ([]uint32, error) { return nil, errTODO }

// Copy copies the messages of uids to the mailbox dest (RFC 3501 6.4.7).
func (v *View) Copy(ctx context.Context, uids []uint32, dest string) (CopyResult, error) {
	return CopyResult{}, errTODO
}

// Move moves the messages of uids to the mailbox dest atomically (RFC
// 6851); the session reports the expunges at its next Sync.
func (v *View) Move(ctx context.Context, uids []uint32, dest string) (CopyResult, error) {
	return CopyResult{}, errTODO
}

// SearchHeader returns the UIDs among uids whose header field contains
// term, case-insensitively after decoding encoded words (RFC 3501 6.4.4
// HEADER; FROM, TO, CC, BCC and SUBJECT are SearchHeader on that field).
// An empty term matches every message that has the field.
func (v *View) SearchHeader(ctx context.Context, uids []uint32, field, term string) ([]uint32, error) {
	return nil, errTODO
}

// SearchBody returns the UIDs among uids whose body text contains term
// (RFC 3501 6.4.4 BODY), after decoding transfer encodings and charsets.
func (v *View) SearchBody(ctx context.Context, uids []uint32, term string) ([]uint32, error) {
	return nil, errTODO
}

// SearchText is SearchBody over header and body (RFC 3501 6.4.4 TEXT).
func (v *View) SearchText(ctx context.Context, uids []uint32, term string) ([]uint32, error) {
	return nil, errTODO
}
