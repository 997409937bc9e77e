package accounts

import (
	"errors"
	"fmt"
)

// Sentinel errors, usable with errors.Is. Every error this package returns
// wraps one of them (or a store error) with a specific message.
var (
	ErrInvalidName     = errors.New("accounts: invalid user name")
	ErrInvalidPassword = errors.New("accounts: unacceptable password")
	ErrMalformedHash   = errors.New("accounts: malformed password hash")
	ErrExists          = errors.New("accounts: user exists")
	ErrNotFound        = errors.New("accounts: no such user")
	// ErrWrongState: the user is not in the state the action starts from
	// (approving a disabled user, enabling a pending one).
	ErrWrongState = errors.New("accounts: wrong user state")
	// ErrBadCredentials: unknown user, wrong password or unknown token; the
	// three are deliberately indistinguishable.
	ErrBadCredentials = errors.New("accounts: bad credentials")
	ErrDisabled       = errors.New("accounts: user disabled")
	ErrPending        = errors.New("accounts: user awaiting approval")
	// ErrBusy: the caller's context ended while the password check waited
	// for one of the few hashing slots (or before it started). It is a
	// temporary failure, never an answer about the credentials; the error
	// also matches the context's error.
	ErrBusy = errors.New("accounts: too many password checks under way")
)

// kindError is an error with its own complete message that still matches a
// sentinel under errors.Is.
type kindError struct {
	kind error
	msg  string
}

func (e *kindError) Error() string { return e.msg }
func (e *kindError) Unwrap() error { return e.kind }

func errorf(kind error, format string, args ...any) error {
	return &kindError{kind: kind, msg: "accounts: " + fmt.Sprintf(format, args...)}
}
