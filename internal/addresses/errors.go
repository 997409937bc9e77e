package addresses

import (
	"errors"
	"fmt"
)

// Sentinel errors, usable with errors.Is. Every error this package returns
// wraps one of them (or a store error) with a specific message naming the
// offending value.
var (
	// ErrInvalid: a malformed local part, label, address or request.
	ErrInvalid = errors.New("addresses: invalid")
	// ErrUnknownApex: the domain is not under a configured apex.
	ErrUnknownApex = errors.New("addresses: unknown apex")
	// ErrReserved: the subdomain label is reserved on that apex.
	ErrReserved = errors.New("addresses: reserved label")
	// ErrExists: the address exists already, or is already held by that user.
	ErrExists = errors.New("addresses: already exists")
	// ErrUnknownUser: a named user does not exist.
	ErrUnknownUser = errors.New("addresses: unknown user")
	// ErrNotFound: the address does not exist, or the actor may not see it.
	ErrNotFound = errors.New("addresses: not found")
	// ErrForbidden: the actor may not do this.
	ErrForbidden = errors.New("addresses: forbidden")
	// ErrNotGranted: the user has no grant on the apex.
	ErrNotGranted = errors.New("addresses: not granted")
)

// kindError is an error with its own complete message that still matches a
// sentinel under errors.Is.
type kindError struct {
	kind error
	msg  string
}

func (e *kindError) Error() string { return e.msg }
func (e *kindError) Unwrap() error { return e.kind }

// errorf builds an error of the given kind whose message is "addresses: "
// followed by the formatted text.
func errorf(kind error, format string, args ...any) error {
	return &kindError{kind: kind, msg: "addresses: " + fmt.Sprintf(format, args...)}
}
