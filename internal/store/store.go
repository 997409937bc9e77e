// Package store defines the metadata store: users, domains, grants,
// addresses and who holds them, API tokens, mailboxes and the message index,
// the outbound queue, delivery events, settings and the audit log.
//
// It is an interface only. Backends live beside it (store/sqlite, and later
// store/postgres) and must all pass the conformance suite in store/storetest.
// The store enforces integrity (uniqueness, foreign keys) and reports it with
// the sentinel errors below; policy (who may do what, which names are valid)
// belongs to the domain packages that call it, such as internal/addresses.
//
// Message bodies are not kept here: they are blobs (internal/blob), and the
// store keeps only their keys.
package store

import (
	"context"
	"errors"
	"time"
)

// Sentinel errors every backend returns (wrapped) so callers can use errors.Is.
var (
	ErrNotFound = errors.New("not found")
	ErrExists   = errors.New("already exists")
	// ErrConflict means the row changed under the caller (optimistic checks).
	ErrConflict = errors.New("conflict")
)

// UserStatus is the lifecycle state of a user account.
type UserStatus string

const (
	UserPending  UserStatus = "pending"  // signed up, waiting for an admin's approval
	UserActive   UserStatus = "active"   // may log in
	UserDisabled UserStatus = "disabled" // kept, but may not log in; mail still delivered
)

// User is an account that holds addresses and mailboxes.
type User struct {
	ID           int64
	Name         string
	PasswordHash string // argon2id, PHC string format
	Admin        bool
	Status       UserStatus
	QuotaBytes   int64 // 0 = the configured default
	CreatedAt    time.Time
}

// Domain is a configured mail apex, with the DKIM key that signs its mail.
type Domain struct {
	Apex         string
	DKIMSelector string
	DKIMKeyPEM   string // PKCS#8 private key
	CreatedAt    time.Time
}

// AddressState is the state of an address row. Revoked addresses have no
// row at all.
type AddressState string

const (
	AddressActive    AddressState = "active"
	AddressSuspended AddressState = "suspended"
)

// Address is one hosted address, local@subdomain.apex.
type Address struct {
	ID        int64
	Address   string // canonical lower-case form
	Local     string
	Subdomain string
	Apex      string
	State     AddressState
	CreatedAt time.Time
	ChangedAt time.Time // last state change
	Holders   []Holding
}

// Holding is one user's hold on an address, with that user's own notes and
// counters.
type Holding struct {
	UserID       int64
	UserName     string
	Comment      string
	Favorite     bool
	CreatedAt    time.Time
	Received     int64
	LastReceived time.Time // zero if never
}

// AddressFilter selects addresses for ListAddresses. Zero values match all.
type AddressFilter struct {
	UserID    int64 // only addresses this user holds
	Apex      string
	Subdomain string // with Apex: only addresses on this subdomain
}

// Token is an API token. Only a hash of the secret is stored.
type Token struct {
	ID        int64
	UserID    int64
	Hash      string // hex SHA-256 of the secret
	CreatedAt time.Time
	LastUsed  time.Time
}

// Event is one delivery event, the stored twin of a mail-log line
// (DESIGN.md §6), kept for `cabalmail diagnose`.
type Event struct {
	ID      int64
	Time    time.Time
	Tier    string // smtp-in, smtp-out, imap
	QueueID string
	Rcpt    string
	Delay   time.Duration
	Relay   string
	DSN     string // enhanced status code, e.g. 2.0.0
	Status  string // Sent, Deferred, Bounced, ...
	Detail  string // the remote reply or reason
}

// EventFilter selects events for ListEvents. Zero values match all.
type EventFilter struct {
	Since time.Time
	Tier  string
	Limit int
}

// AuditEntry records an administrative action.
type AuditEntry struct {
	ID     int64
	Time   time.Time
	Actor  string // user name, or "operator" for the CLI
	Action string // e.g. "address.revoke"
	Target string
	Detail string
}

// Store is the whole metadata store. Implementations are safe for concurrent
// use by many goroutines and by several processes sharing the same database.
type Store interface {
	Users
	Domains
	Addresses
	Tokens
	Events
	Settings
	Audit
	Mailboxes    // mailbox.go
	Web          // web.go
	Queue        // queue.go
	Suppressions // suppression.go
	Providers    // providers.go

	// Close releases the store's resources.
	Close() error
}

// Users manages accounts and their apex grants.
type Users interface {
	CreateUser(ctx context.Context, u *User) error // sets u.ID and u.CreatedAt; ErrExists on a taken name
	UserByName(ctx context.Context, name string) (User, error)
	UserByID(ctx context.Context, id int64) (User, error)
	ListUsers(ctx context.Context) ([]User, error)
	UpdateUser(ctx context.Context, u User) error // by ID: password, admin, status, quota
	// DeleteUser removes the user with their holdings, grants and tokens.
	// Addresses left with no holder are removed (revoked); their names are
	// returned.
	DeleteUser(ctx context.Context, id int64) (revoked []string, err error)

	Grant(ctx context.Context, userID int64, apex string) error // idempotent; ErrNotFound for an unknown apex
	Ungrant(ctx context.Context, userID int64, apex string) error
	Grants(ctx context.Context, userID int64) ([]string, error)
	HasGrant(ctx context.Context, userID int64, apex string) (bool, error)
}

// Domains manages the configured mail apexes.
type Domains interface {
	CreateDomain(ctx context.Context, d *Domain) error // ErrExists if present
	DomainByApex(ctx context.Context, apex string) (Domain, error)
	ListDomains(ctx context.Context) ([]Domain, error)
}

// Addresses manages hosted addresses and who holds them.
type Addresses interface {
	// CreateAddress inserts a with its Holders in one transaction. ErrExists
	// if the address exists (in any state); ErrNotFound if the apex or a
	// holder does not.
	CreateAddress(ctx context.Context, a *Address) error
	AddressByName(ctx context.Context, address string) (Address, error)
	ListAddresses(ctx context.Context, f AddressFilter) ([]Address, error)
	SetAddressState(ctx context.Context, address string, s AddressState) error
	// DeleteAddress removes the address and every holding (revocation).
	DeleteAddress(ctx context.Context, address string) error

	AddHolder(ctx context.Context, address string, h Holding) error // ErrExists if already held
	// RemoveHolder drops one user's hold. If nobody holds the address
	// afterwards, the address is removed too and lastHolder is true.
	RemoveHolder(ctx context.Context, address string, userID int64) (lastHolder bool, err error)
	UpdateHolding(ctx context.Context, address string, h Holding) error // comment, favorite
	// CountReceived bumps the received counters of every holder.
	CountReceived(ctx context.Context, address string, at time.Time) error
	// CountReceivedBatch applies many counts in one transaction: each
	// bumps the counters of every holder of its address by N (at least 1)
	// and moves last_received up to At. Addresses that no longer exist
	// (revoked since the delivery) are skipped and returned; nothing is
	// applied if the error is not nil.
	CountReceivedBatch(ctx context.Context, counts []ReceivedCount) (unknown []string, err error)
}

// ReceivedCount is one entry of Addresses.CountReceivedBatch: N messages
// received by Address, the last at At (zero: now).
type ReceivedCount struct {
	Address string
	At      time.Time
	N       int
}

// Tokens manages API tokens.
type Tokens interface {
	CreateToken(ctx context.Context, t *Token) error
	// UserByToken finds the user for a token hash and records its use.
	UserByToken(ctx context.Context, hash string) (User, error)
	DeleteTokens(ctx context.Context, userID int64) error
}

// Events keeps delivery events.
type Events interface {
	AddEvent(ctx context.Context, e *Event) error
	// AddEvents stores events in one transaction, setting each ID (and
	// Time if unset); all or none are stored.
	AddEvents(ctx context.Context, events []*Event) error
	ListEvents(ctx context.Context, f EventFilter) ([]Event, error) // newest first
}

// Settings is a small key/value table for operator switches that every
// process must see at once (for example the inbound tempfail switch).
type Settings interface {
	SetSetting(ctx context.Context, key, value string) error
	Setting(ctx context.Context, key string) (string, error) // ErrNotFound if unset
	DeleteSetting(ctx context.Context, key string) error
}

// Audit records administrative actions.
type Audit interface {
	AddAudit(ctx context.Context, e *AuditEntry) error
	ListAudit(ctx context.Context, limit int) ([]AuditEntry, error) // newest first
}
