package store

import (
	"context"
	"errors"
	"time"
)

// The mailbox part of the store: mailboxes, the message index, flags,
// expunge tombstones, subscriptions and the list of message bodies waiting
// to be deleted. Its only caller is internal/mailbox, which owns the policy
// (names, special use, quotas, parsing); the store owns atomicity: each
// method below is one transaction.
//
// Every method that names a mailbox by ID also takes the owner's user ID and
// finds nothing (ErrNotFound) when they do not match, so a caller holding a
// stale or forged ID cannot reach another user's mail.

// ErrOverQuota is returned (wrapped) when storing messages would take a
// user's mailboxes over the quota limit the caller gave.
var ErrOverQuota = errors.New("over quota")

// SystemFlags is the bit set of IMAP system flags of a message.
type SystemFlags uint8

// The system flags (RFC 3501 2.3.2). \Recent is not stored.
const (
	FlagSeen SystemFlags = 1 << iota
	FlagAnswered
	FlagFlagged
	FlagDeleted
	FlagDraft
)

// Mailbox is one mailbox of a user, with the counters kept in step with its
// messages.
type Mailbox struct {
	ID            int64
	UserID        int64
	Name          string // UTF-8, '/'-separated hierarchy
	SpecialUse    string // RFC 6154 attribute, "" for none
	UIDValidity   uint32 // set by the store, never reused for the same name
	UIDNext       uint32
	HighestModSeq uint64
	Keywords      []string // keywords ever set on a message of the mailbox
	Messages      int64
	Unseen        int64
	Deleted       int64
	Size          int64 // sum of message sizes
	CreatedAt     time.Time
}

// MessageMeta is the part of a message row kept in memory by the mailbox
// package.
type MessageMeta struct {
	UID          uint32
	ModSeq       uint64
	Flags        SystemFlags
	Keywords     []string
	Size         int64
	InternalDate time.Time
	SentDate     time.Time // zero if unknown
}

// NewMessage is a message to add to a mailbox. The body is already in the
// blob store under BlobKey.
type NewMessage struct {
	UserID    int64
	MailboxID int64
	MessageMeta
	BlobKey   string
	Envelope  []byte // opaque to the store (serialized by internal/mailbox)
	Structure []byte // opaque to the store
	Header    []byte // the raw header block, for header searches
	Search    []byte // opaque: pre-decoded header fields for fast searches
	Filter    []byte // opaque: a search prefilter of the text (may be nil)
	// QuotaLimit, if > 0, is the user's limit in bytes: the message is
	// refused with ErrOverQuota if the user's total size would exceed it.
	QuotaLimit int64
}

// Added is the outcome of adding one NewMessage.
type Added struct {
	UID         uint32
	ModSeq      uint64
	UIDValidity uint32
	Err         error // nil, or wraps ErrOverQuota or ErrNotFound
}

// MailboxChanges is what changed in a mailbox after a mod-sequence, read in
// one snapshot.
type MailboxChanges struct {
	Mailbox  Mailbox
	Changed  []MessageMeta // in UID order: added or flag-changed
	Expunged []Tombstone   // in UID order
}

// Tombstone records the expunge of a UID (RFC 7162 QRESYNC needs them).
type Tombstone struct {
	UID    uint32
	ModSeq uint64
}

// FlagUpdate is a STORE on a set of messages.
type FlagUpdate struct {
	UIDs     []uint32 // ascending
	Op       int      // 0 add, 1 remove, 2 replace
	Flags    SystemFlags
	Keywords []string
	// UnchangedSince, if > 0, skips (and reports) messages whose modseq
	// is higher (RFC 7162 3.1.3).
	UnchangedSince uint64
}

// FlagResult is the outcome of a FlagUpdate.
type FlagResult struct {
	Updated  []MessageMeta // messages whose flags changed, with new modseq
	Modified []uint32      // UIDs that failed the UNCHANGEDSINCE test
	Mailbox  Mailbox       // the mailbox after the update
}

// MessageData selects the columns of a message row ScanMessageData reads.
type MessageData int

// Columns of MessageData.
const (
	DataBlobKey MessageData = 1 << iota
	DataEnvelope
	DataStructure
	DataHeader
	DataSearch
	DataFilter
)

// MessageRow is a message's stored data, with the columns asked for.
type MessageRow struct {
	UID       uint32
	BlobKey   string
	Envelope  []byte
	Structure []byte
	Header    []byte
	Search    []byte
	Filter    []byte // nil for messages stored without one
}

// Garbage is a blob no message references any more.
type Garbage struct {
	Key       string
	CreatedAt time.Time
}

// Mailboxes manages mailboxes and their messages.
type Mailboxes interface {
	// CreateMailbox inserts m (Name, UserID, SpecialUse) and sets ID,
	// UIDValidity, UIDNext, HighestModSeq, CreatedAt. ErrExists if the user
	// has a mailbox of that name; ErrNotFound for an unknown user.
	CreateMailbox(ctx context.Context, m *Mailbox) error
	MailboxByName(ctx context.Context, userID int64, name string) (Mailbox, error)
	MailboxByID(ctx context.Context, userID, id int64) (Mailbox, error)
	ListMailboxes(ctx context.Context, userID int64) ([]Mailbox, error) // by name
	// DeleteMailbox removes the mailbox, its messages and tombstones. The
	// bodies of messages no other row references are listed as garbage.
	DeleteMailbox(ctx context.Context, userID, id int64) error
	// RenameMailbox renames the mailbox and every mailbox below it
	// (old/...) to newName. ErrExists if a target name is taken.
	RenameMailbox(ctx context.Context, userID, id int64, newName string) error
	// MoveAllMessages moves every message of mailbox from into mailbox to,
	// which must be empty and new, keeping UIDs; from is left empty with
	// tombstones for the moved UIDs (renaming INBOX, RFC 3501 6.3.5).
	MoveAllMessages(ctx context.Context, userID, from, to int64) error

	Subscribe(ctx context.Context, userID int64, name string) error   // idempotent
	Unsubscribe(ctx context.Context, userID int64, name string) error // idempotent
	Subscriptions(ctx context.Context, userID int64) ([]string, error)

	// AddMessages adds the messages in one transaction: each gets the next
	// UID and mod-sequence of its mailbox. A message that cannot be added
	// (quota, vanished mailbox) gets an error in its Added entry without
	// failing the others; the returned error is for the transaction.
	AddMessages(ctx context.Context, msgs []NewMessage) ([]Added, error)
	// MessageChanges returns the mailbox and the messages changed or
	// expunged with a mod-sequence above since (0: all messages).
	MessageChanges(ctx context.Context, userID, mailboxID int64, since uint64) (MailboxChanges, error)
	// ScanMessageData calls fn for each message of uids (ascending; nil
	// means all) that exists, in UID order, with the columns of data.
	ScanMessageData(ctx context.Context, userID, mailboxID int64, uids []uint32, data MessageData, fn func(MessageRow) error) error
	// UpdateFlags applies a STORE.
	UpdateFlags(ctx context.Context, userID, mailboxID int64, u FlagUpdate) (FlagResult, error)
	// ExpungeMessages removes the messages of uids (nil: all) that have
	// \Deleted, records tombstones and returns the expunged UIDs.
	ExpungeMessages(ctx context.Context, userID, mailboxID int64, uids []uint32) ([]uint32, error)
	// CopyMessages copies (or, with move, moves) the messages of uids into
	// mailbox to, returning the source UIDs copied and their new UIDs.
	CopyMessages(ctx context.Context, userID, from int64, uids []uint32, to int64, move bool, quotaLimit int64) (src, dst []uint32, err error)
	// Expunged returns tombstones with a mod-sequence above since.
	Expunged(ctx context.Context, userID, mailboxID int64, since uint64) ([]Tombstone, error)
	// UsageBytes is the total size of the user's messages.
	UsageBytes(ctx context.Context, userID int64) (int64, error)

	// BlobGarbage lists up to limit blobs unreferenced since before.
	BlobGarbage(ctx context.Context, before time.Time, limit int) ([]Garbage, error)
	// ForgetGarbage removes keys from the garbage list.
	ForgetGarbage(ctx context.Context, keys []string) error
	// BlobReferenced reports whether a message row references key.
	BlobReferenced(ctx context.Context, key string) (bool, error)
}
