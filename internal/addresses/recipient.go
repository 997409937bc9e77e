package addresses

import (
	"context"
	"errors"
	"fmt"

	"github.com/cabalmail/cabalmail/internal/store"
)

// Verdict is the answer to "may mail for this recipient be accepted?".
type Verdict int

const (
	// Unknown: no such address (never was, revoked, malformed, or not under
	// a configured apex). Answer 550 5.1.1 (RFC 3463 3.2 X.1.1).
	Unknown Verdict = iota
	// Deliver: an active address; deliver to every holder.
	Deliver
	// Suspended: the address exists but is suspended. Answer 550 5.2.1
	// (RFC 3463 3.2 X.2.1, mailbox disabled).
	Suspended
)

func (v Verdict) String() string {
	switch v {
	case Deliver:
		return "deliver"
	case Suspended:
		return "suspended"
	}
	return "unknown"
}

// Recipient answers the MX tier's question at RCPT time. The error is
// non-nil only when the store could not be asked; the caller then answers
// with a temporary failure (451 4.3.0), never a 5xx (DESIGN.md §3). Every
// definite answer, including a malformed address or a domain that is not
// ours, comes back as a Verdict with a nil error. The returned row (with
// its holders) is set for Deliver and Suspended.
func (s *Service) Recipient(ctx context.Context, addr string) (Verdict, store.Address, error) {
	apexes, cached, err := s.cachedApexes(ctx)
	if err != nil {
		return Unknown, store.Address{}, err
	}
	p, err := parse(addr, apexes)
	if err != nil && cached {
		// Perhaps under an apex added since the list was read.
		if apexes, _, err = s.freshApexes(ctx); err != nil {
			return Unknown, store.Address{}, err
		}
		p, err = parse(addr, apexes)
	}
	if err != nil {
		return Unknown, store.Address{}, nil
	}
	row, err := s.st.AddressByName(ctx, p.String())
	if errors.Is(err, store.ErrNotFound) {
		return Unknown, store.Address{}, nil
	}
	if err != nil {
		return Unknown, store.Address{}, fmt.Errorf("addresses: look up recipient %s: %w", p, err)
	}
	switch row.State {
	case store.AddressActive:
		return Deliver, row, nil
	case store.AddressSuspended:
		return Suspended, row, nil
	}
	return Unknown, store.Address{}, fmt.Errorf("addresses: recipient %s has unknown state %q", p, row.State)
}
