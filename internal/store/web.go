package store

import (
	"context"
	"time"
)

// Session is a logged-in browser session of the web app. Only a hash of
// the cookie's secret is stored.
type Session struct {
	ID     int64
	Hash   string // hex SHA-256 of the cookie secret
	UserID int64
	// CSRF is the per-session token every cookie-authenticated mutation
	// must echo (random, stored as is: it is not a credential alone).
	CSRF string
	// MFA is true once the second factor was checked (or the user needs
	// none). An admin's session without it may only enrol TOTP.
	MFA       bool
	CreatedAt time.Time
	ExpiresAt time.Time
}

// Invite is an admin-issued sign-up code. Only a hash of the code is kept.
type Invite struct {
	ID        int64
	Hash      string // hex SHA-256 of the code
	CreatedBy string // admin name
	Note      string
	CreatedAt time.Time
	ExpiresAt time.Time
	UsedBy    string    // user name that signed up with it; empty while unused
	UsedAt    time.Time // zero while unused
}

// TOTP is a user's time-based one-time password secret (RFC 6238).
type TOTP struct {
	UserID int64
	Secret []byte
	// Enabled is false while enrolment waits for the first valid code.
	Enabled bool
	// LastStep is the last time step a code was accepted for, so a code is
	// never accepted twice.
	LastStep  int64
	CreatedAt time.Time
}

// Web is what the web app and API keep besides users and addresses:
// sessions, invite codes, TOTP secrets and the listing of API tokens.
type Web interface {
	// CreateSession stores s and sets s.ID and s.CreatedAt. ErrInvalid for
	// an empty hash or CSRF token or a zero expiry; ErrNotFound for an
	// unknown user.
	CreateSession(ctx context.Context, s *Session) error
	// SessionByHash returns the session with this hash if it has not
	// expired at now; ErrNotFound otherwise.
	SessionByHash(ctx context.Context, hash string, now time.Time) (Session, error)
	DeleteSession(ctx context.Context, hash string) error // ErrNotFound if absent
	DeleteUserSessions(ctx context.Context, userID int64) error
	// DeleteExpiredSessions removes the sessions expired at now and says
	// how many.
	DeleteExpiredSessions(ctx context.Context, now time.Time) (int, error)

	// CreateInvite stores i and sets i.ID and i.CreatedAt; ErrExists on a
	// taken hash.
	CreateInvite(ctx context.Context, i *Invite) error
	ListInvites(ctx context.Context) ([]Invite, error) // newest first
	// UseInvite marks the unused, unexpired invite with this hash as used
	// by userName at now, atomically: of two concurrent uses one gets
	// ErrNotFound, as do unknown, used and expired codes.
	UseInvite(ctx context.Context, hash, userName string, now time.Time) (Invite, error)
	DeleteInvite(ctx context.Context, id int64) error // ErrNotFound if absent

	// SetTOTP replaces the user's TOTP row (enrolment starts over).
	SetTOTP(ctx context.Context, t *TOTP) error
	TOTPByUser(ctx context.Context, userID int64) (TOTP, error) // ErrNotFound if none
	// UseTOTPStep records that a code for step was accepted, and enables
	// the secret. ErrConflict if step is not after the last accepted step
	// (a replayed code); ErrNotFound if the user has no secret.
	UseTOTPStep(ctx context.Context, userID, step int64) error
	DeleteTOTP(ctx context.Context, userID int64) error

	// ListTokens returns the user's API tokens, oldest first.
	ListTokens(ctx context.Context, userID int64) ([]Token, error)
	// DeleteToken removes one token of the user; ErrNotFound if the user
	// has no token with that ID (including another user's token).
	DeleteToken(ctx context.Context, userID, tokenID int64) error
}
