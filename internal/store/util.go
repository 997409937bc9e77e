package store

import (
	"errors"
	"fmt"
	"strings"
)

// Checks every backend runs before writing, so bad input is refused with
// the same clear error everywhere and changes nothing. They check the
// integrity of a row, not policy: which names are acceptable is for the
// domain packages to decide.

// ErrInvalid reports a row that cannot be stored as given.
var ErrInvalid = errors.New("invalid")

// CheckUser checks that u can be stored: a name and a known status.
func CheckUser(u User) error {
	if u.Name == "" {
		return fmt.Errorf("%w user: empty name", ErrInvalid)
	}
	return CheckUserStatus(u.Status)
}

// CheckUserStatus checks that s is one of the known user statuses.
func CheckUserStatus(s UserStatus) error {
	switch s {
	case UserPending, UserActive, UserDisabled:
		return nil
	}
	return fmt.Errorf("%w user status %q", ErrInvalid, s)
}

// CheckAddressState checks that s is one of the stored address states.
func CheckAddressState(s AddressState) error {
	switch s {
	case AddressActive, AddressSuspended:
		return nil
	}
	return fmt.Errorf("%w address state %q", ErrInvalid, s)
}

// CheckAddress checks that a's parts are present and agree with its name
// (local@subdomain.apex), and that its state is known.
func CheckAddress(a Address) error {
	if a.Local == "" || a.Subdomain == "" || a.Apex == "" {
		return fmt.Errorf("%w address %q: local part, subdomain and apex are all required", ErrInvalid, a.Address)
	}
	if strings.Contains(a.Local, "@") || strings.Contains(a.Subdomain, "@") || strings.Contains(a.Apex, "@") {
		return fmt.Errorf("%w address %q: @ inside a part", ErrInvalid, a.Address)
	}
	if want := a.Local + "@" + a.Subdomain + "." + a.Apex; a.Address != want {
		return fmt.Errorf("%w address %q: parts make %q", ErrInvalid, a.Address, want)
	}
	return CheckAddressState(a.State)
}
