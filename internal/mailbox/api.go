package mailbox

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"time"

	"github.com/cabalmail/cabalmail/internal/blob"
	"github.com/cabalmail/cabalmail/internal/store"
)

// Errors returned (wrapped) by the mailbox store. Test them with errors.Is.
var (
	// ErrNoMailbox: the mailbox does not exist (IMAP: NO [NONEXISTENT]).
	ErrNoMailbox = errors.New("mailbox: no such mailbox")
	// ErrExists: a mailbox of that name exists (IMAP: NO [ALREADYEXISTS]).
	ErrExists = errors.New("mailbox: mailbox already exists")
	// ErrOverQuota: storing the message would exceed the user's quota
	// (IMAP: NO [OVERQUOTA]; SMTP: 452 4.2.2).
	ErrOverQuota = errors.New("mailbox: over quota")
	// ErrInvalidName: the mailbox name is not acceptable (empty hierarchy
	// level, control character, '*' or '%', too long, not UTF-8).
	ErrInvalidName = errors.New("mailbox: invalid mailbox name")
	// ErrNotAllowed: the operation is refused on this mailbox, such as
	// deleting INBOX or renaming a mailbox into itself (IMAP: NO [CANNOT]).
	ErrNotAllowed = errors.New("mailbox: operation not allowed")
	// ErrNoMessage: no message with that UID (it was expunged).
	ErrNoMessage = errors.New("mailbox: no such message")
	// ErrInvalidFlag: a flag or keyword is not a valid IMAP atom, or is a
	// system flag a client may not set (\Recent).
	ErrInvalidFlag = errors.New("mailbox: invalid flag")
	// ErrTooBig: the message is larger than Options.MaxMessageSize
	// (IMAP: NO [TOOBIG]; SMTP: 552 5.3.4).
	ErrTooBig = errors.New("mailbox: message too big")
	// ErrClosed: the Store or View was closed.
	ErrClosed = errors.New("mailbox: closed")
)

// Inbox is the name of every user's inbox. It is case-insensitive on input
// (RFC 3501 5.1) and always reported in this spelling.
const Inbox = "INBOX"

// Delimiter is the hierarchy delimiter of mailbox names.
const Delimiter = '/'

// SpecialUse is an RFC 6154 special-use attribute, "" for none.
type SpecialUse string

// RFC 6154 2: the special uses the store creates and accepts.
const (
	UseNone    SpecialUse = ""
	UseArchive SpecialUse = `\Archive`
	UseDrafts  SpecialUse = `\Drafts`
	UseJunk    SpecialUse = `\Junk`
	UseSent    SpecialUse = `\Sent`
	UseTrash   SpecialUse = `\Trash`
)

// SystemFlags is the set of IMAP system flags of a message (RFC 3501
// 2.3.2), as a bit set. \Recent is not kept: it is always reported unset.
type SystemFlags = store.SystemFlags

// The system flags.
const (
	FlagSeen     = store.FlagSeen
	FlagAnswered = store.FlagAnswered
	FlagFlagged  = store.FlagFlagged
	FlagDeleted  = store.FlagDeleted
	FlagDraft    = store.FlagDraft
)

// Flags are the flags of a message: system flags and keywords.
// Keywords compare case-insensitively and keep the spelling they were first
// set with; the slice is sorted and shared, never modify it.
type Flags struct {
	System   SystemFlags
	Keywords []string
}

// FlagOp says how StoreFlags combines the given flags with a message's.
type FlagOp int

// The flag operations of IMAP STORE (RFC 3501 6.4.6).
const (
	FlagsAdd     FlagOp = iota // +FLAGS
	FlagsRemove                // -FLAGS
	FlagsReplace               // FLAGS
)

// MailboxInfo is one entry of a user's mailbox list.
type MailboxInfo struct {
	ID          int64 // 0 for a NonExistent placeholder
	Name        string
	SpecialUse  SpecialUse
	Subscribed  bool
	HasChildren bool
	// NonExistent marks a name that is not a mailbox but is the parent of
	// one (its mailbox was deleted, or it was never created): LIST reports
	// it \NonExistent \Noselect (RFC 5258 3, RFC 3501 6.3.4).
	NonExistent bool
}

// Status is the state of one mailbox as STATUS reports it (RFC 3501
// 6.3.10, RFC 9051 6.3.11, RFC 7162 3.1.6).
type Status struct {
	Messages      uint32
	Recent        uint32 // always 0: \Recent is not kept
	UIDNext       uint32
	UIDValidity   uint32
	Unseen        uint32
	Deleted       uint32
	Size          int64 // sum of message sizes (RFC 8438)
	HighestModSeq uint64
}

// Quota is a user's storage use and limit (RFC 9208 STORAGE, in bytes).
type Quota struct {
	Used  int64
	Limit int64 // 0: no limit
}

// Message is the metadata of one message, kept in memory so that SELECT,
// FETCH FLAGS and SEARCH on flags, dates and sizes need no store query.
type Message struct {
	UID          uint32
	ModSeq       uint64
	Flags        Flags
	Size         int64     // RFC822.SIZE: octets of the stored message
	InternalDate time.Time // INTERNALDATE
	SentDate     time.Time // the Date header, zero if absent or unreadable
}

// Parsed is the cached parse of a stored message, read from the store so
// that FETCH ENVELOPE / BODYSTRUCTURE / BODY[section] need no re-parse.
type Parsed struct {
	UID       uint32
	Envelope  *Envelope
	Structure *Part
}

// Envelope is the IMAP ENVELOPE of a message (RFC 3501 7.4.2): the raw
// header values, still in their encoded-word form. Sender and ReplyTo are
// set to From when their headers are absent or empty, as RFC 3501 asks.
type Envelope struct {
	Date      string    `json:"d,omitempty"`
	Subject   string    `json:"s,omitempty"`
	From      []Address `json:"f,omitempty"`
	Sender    []Address `json:"se,omitempty"`
	ReplyTo   []Address `json:"r,omitempty"`
	To        []Address `json:"t,omitempty"`
	Cc        []Address `json:"c,omitempty"`
	Bcc       []Address `json:"b,omitempty"`
	InReplyTo string    `json:"i,omitempty"`
	MessageID string    `json:"m,omitempty"`
}

// Address is one address of an envelope address list. As in RFC 3501
// 7.4.2, a group is marked by an entry with Mailbox set to the group name
// and Host empty (start) and an entry with both empty (end). An address
// without a domain gets Host ".MISSING-HOST-NAME.", as other servers do.
type Address struct {
	Name    string `json:"n,omitempty"` // display name, raw (encoded words kept)
	Mailbox string `json:"m,omitempty"`
	Host    string `json:"h,omitempty"`
}

// IsGroupStart reports whether a starts a group.
func (a Address) IsGroupStart() bool { return a.Mailbox != "" && a.Host == "" }

// IsGroupEnd reports whether a ends a group.
func (a Address) IsGroupEnd() bool { return a.Mailbox == "" && a.Host == "" }

// Part is one node of a message's MIME tree (RFC 2045, RFC 2046), with
// what BODYSTRUCTURE reports (RFC 3501 7.4.2) and the byte offsets of its
// header and body in the stored message, so a section is served by reading
// a byte range of the body blob:
//
//	header (MIME header of a part, or HEADER of a message): [HeaderStart, BodyStart)
//	  (it includes the empty line that ends it, if there is one)
//	body (the part's content, TEXT of a message):           [BodyStart, End)
//
// The root Part is the whole message: HeaderStart 0, End its size.
// Type names, subtypes, parameter names and the encoding are lower case;
// parameter values are as written (unquoted). A message whose MIME
// structure cannot be read is described as one text/plain part.
type Part struct {
	Type              string            `json:"t"`
	Subtype           string            `json:"st"`
	Params            map[string]string `json:"p,omitempty"`
	ID                string            `json:"id,omitempty"`
	Description       string            `json:"de,omitempty"`
	Encoding          string            `json:"e,omitempty"` // Content-Transfer-Encoding; "" means 7bit
	Size              int64             `json:"sz"`          // octets of the body
	Lines             int64             `json:"l,omitempty"` // text/* and message/rfc822: lines of the body
	MD5               string            `json:"md5,omitempty"`
	Disposition       string            `json:"di,omitempty"`
	DispositionParams map[string]string `json:"dp,omitempty"`
	Language          []string          `json:"la,omitempty"`
	Location          string            `json:"lo,omitempty"`

	// Parts are the children of a multipart.
	Parts []*Part `json:"c,omitempty"`
	// Envelope and Message describe the encapsulated message of a
	// message/rfc822 (or message/global) part; Message.HeaderStart equals
	// this part's BodyStart.
	Envelope *Envelope `json:"env,omitempty"`
	Message  *Part     `json:"m,omitempty"`

	HeaderStart int64 `json:"hs"`
	BodyStart   int64 `json:"bs"`
	End         int64 `json:"en"`
}

// Options configure a Store. The zero value of each field is a sensible
// default, except Store and Blobs, which are required.
type Options struct {
	Store store.Store
	// Blobs keeps the message bodies: a blob.Store through BlobsOf, or
	// anything with the BlobStore methods.
	Blobs BlobStore
	// OwnsBlobs says Blobs holds mailbox bodies only (a directory of its
	// own), so the sweeper may delete blobs no message references, left by
	// a crash between writing a body and committing its row. Leave it
	// false when the blob store is shared, for example with the queue.
	OwnsBlobs bool
	// Logger receives program logs; nil means slog.Default().
	Logger *slog.Logger
	// DefaultQuota is the storage limit in bytes of users whose own quota
	// (store.User.QuotaBytes) is 0. 0 means no limit.
	DefaultQuota int64
	// MaxMessageSize bounds Append and Deliver; 0 means 64 MiB.
	MaxMessageSize int64
	// PollInterval is how often changes made by other processes sharing
	// the store are looked for; 0 means 500ms.
	PollInterval time.Duration
	// GarbageGrace is how long the body of a message no row references
	// any more (expunged, or its mailbox or user deleted) is kept before
	// the sweeper deletes it, so reads and searches under way can finish;
	// 0 means 1 minute.
	GarbageGrace time.Duration
}

// AppendOptions are the optional arguments of Append (RFC 3501 6.3.11).
type AppendOptions struct {
	Flags        Flags
	InternalDate time.Time // zero: now
}

// AppendResult says where an appended message went (RFC 4315 APPENDUID).
type AppendResult struct {
	UIDValidity uint32
	UID         uint32
}

// DeliverOptions are the optional arguments of Deliver.
type DeliverOptions struct {
	// Mailbox is the destination name; "" means INBOX. A missing
	// destination other than INBOX falls back to INBOX.
	Mailbox      string
	Flags        Flags
	InternalDate time.Time // zero: now
}

// Delivery is the outcome of a delivery to one user.
type Delivery struct {
	UserID      int64
	Mailbox     string
	UIDValidity uint32
	UID         uint32
	// Err is nil on success, or wraps ErrOverQuota, or another error for
	// this user alone (for example an unknown user).
	Err error
}

// StoreOptions are the optional arguments of View.StoreFlags.
type StoreOptions struct {
	// UnchangedSince, if not 0, is the CONDSTORE UNCHANGEDSINCE modifier
	// (RFC 7162 3.1.3): messages whose mod-sequence is higher are left
	// alone and reported as modified.
	UnchangedSince uint64
}

// CopyResult is the outcome of Copy and Move (RFC 4315 COPYUID): the
// source UIDs that were copied and, in the same order, their new UIDs.
type CopyResult struct {
	UIDValidity uint32 // of the destination
	Source      []uint32
	Dest        []uint32
}

// Changes is what View.Sync has to report to its session.
type Changes struct {
	// Expunged are the sequence numbers to report in EXPUNGE responses,
	// in the order to send them (each already accounts for the ones
	// before it), and ExpungedUIDs the same messages' UIDs (for VANISHED).
	Expunged     []uint32
	ExpungedUIDs []uint32
	// Exists is set when the number of messages changed: the new count.
	Exists    uint32
	NewExists bool
	// Updated are messages whose flags changed since the last Sync.
	Updated []Message
	// Keywords is set when the mailbox's keyword list changed.
	Keywords    []string
	NewKeywords bool
	// Gone is true when the mailbox was deleted: the session should end
	// the selection (or the connection). A renamed mailbox stays selected.
	Gone bool
}

// BlobStore is what the mailbox store needs of a blob store
// (internal/blob). Readers that Open returns are used for random access
// when they implement blob.Reader (blob.Dir's do); others are read into
// memory when a caller needs to seek.
type BlobStore interface {
	Put(ctx context.Context, r io.Reader) (key string, size int64, err error)
	Open(ctx context.Context, key string) (io.ReadCloser, error)
	Delete(ctx context.Context, key string) error
}

// BlobsOf adapts a blob.Store (such as blob.Dir) to BlobStore. When the
// store can write bodies and sync them as a group (blob.Dir can), the
// group committer syncs each batch's bodies together before committing
// its rows, instead of each body costing its own fsyncs.
func BlobsOf(b blob.Store) BlobStore {
	if p, ok := b.(pendingBlobs); ok {
		return pendingBlobStore{blobStore{b}, p}
	}
	return blobStore{b}
}

// pendingBlobs is a blob store that can defer durability to a group sync
// (blob.Dir.PutPending and friends).
type pendingBlobs interface {
	PutPending(ctx context.Context, r io.Reader) (*blob.Pending, error)
	SyncPending(ctx context.Context, ps []*blob.Pending) error
	DiscardPending(p *blob.Pending)
}

type pendingBlobStore struct {
	blobStore
	pendingBlobs
}

type blobStore struct{ blob.Store }

func (b blobStore) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	return b.Store.Open(ctx, key)
}

// Walk lists the blobs if the underlying store can (for SweepOrphans).
func (b blobStore) Walk(ctx context.Context, fn func(key string, stored time.Time) error) error {
	w, ok := b.Store.(walker)
	if !ok {
		return errors.New("mailbox: the blob store cannot list its blobs")
	}
	return w.Walk(ctx, fn)
}
