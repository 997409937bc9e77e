package addresses

import (
	"context"
	"errors"
	"fmt"

	"github.com/cabalmail/cabalmail/internal/store"
)

// List returns the addresses f selects. A plain user sees only the
// addresses they hold, whatever f.UserID says.
func (s *Service) List(ctx context.Context, a Actor, f store.AddressFilter) ([]store.Address, error) {
	if !a.privileged() {
		if a.UserID == 0 {
			return nil, errorf(ErrForbidden, "an actor with no user may not list addresses")
		}
		f.UserID = a.UserID
	}
	f.Apex = canonicalDomain(f.Apex)
	list, err := s.st.ListAddresses(ctx, f)
	if err != nil {
		return nil, fmt.Errorf("addresses: list: %w", err)
	}
	return list, nil
}

// Get returns one address. A plain user gets ErrNotFound for an address
// they do not hold, exactly as for one that does not exist.
func (s *Service) Get(ctx context.Context, a Actor, addr string) (store.Address, error) {
	row, _, err := s.load(ctx, a, addr)
	return row, err
}

// load parses addr, reads its row and checks that a may see it.
func (s *Service) load(ctx context.Context, a Actor, addr string) (store.Address, Parsed, error) {
	p, err := s.Parse(ctx, addr)
	if err != nil {
		return store.Address{}, Parsed{}, err
	}
	row, err := s.st.AddressByName(ctx, p.String())
	if errors.Is(err, store.ErrNotFound) || (err == nil && !a.privileged() && !a.holds(row)) {
		// A plain user must not learn that someone else's address exists.
		return store.Address{}, Parsed{}, errorf(ErrNotFound, "%q does not exist", p.String())
	}
	if err != nil {
		return store.Address{}, Parsed{}, fmt.Errorf("addresses: look up %s: %w", p, err)
	}
	return row, p, nil
}

// Revoke revokes an address: mail to it is refused with 550 5.1.1 and its
// DNS is withdrawn. An admin or the operator removes the address outright.
// A plain user drops only their own hold; the address is revoked when its
// last holder leaves.
func (s *Service) Revoke(ctx context.Context, a Actor, addr string) error {
	row, _, err := s.load(ctx, a, addr)
	if err != nil {
		return err
	}
	if !a.privileged() {
		_, err := s.st.RemoveHolder(ctx, row.Address, a.UserID)
		if errors.Is(err, store.ErrNotFound) {
			return errorf(ErrNotFound, "%q does not exist", row.Address)
		}
		if err != nil {
			return fmt.Errorf("addresses: revoke %s: %w", row.Address, err)
		}
		return nil
	}
	err = s.st.DeleteAddress(ctx, row.Address)
	if errors.Is(err, store.ErrNotFound) {
		return errorf(ErrNotFound, "%q does not exist", row.Address)
	}
	if err != nil {
		return fmt.Errorf("addresses: revoke %s: %w", row.Address, err)
	}
	return s.audit(ctx, a, "address.revoke", row.Address, "holders "+holderNames(row.Holders))
}

// Suspend keeps the address but refuses its mail with 550 5.2.1 and
// withdraws its DNS until Reinstate. Suspending a suspended address
// changes nothing.
func (s *Service) Suspend(ctx context.Context, a Actor, addr string) error {
	return s.setState(ctx, a, addr, store.AddressSuspended, "address.suspend")
}

// Reinstate makes a suspended address active again. Reinstating an active
// address changes nothing.
func (s *Service) Reinstate(ctx context.Context, a Actor, addr string) error {
	return s.setState(ctx, a, addr, store.AddressActive, "address.reinstate")
}

func (s *Service) setState(ctx context.Context, a Actor, addr string, st store.AddressState, action string) error {
	row, _, err := s.load(ctx, a, addr)
	if err != nil {
		return err
	}
	if row.State == st {
		return nil
	}
	err = s.st.SetAddressState(ctx, row.Address, st)
	if errors.Is(err, store.ErrNotFound) {
		return errorf(ErrNotFound, "%q does not exist", row.Address)
	}
	if err != nil {
		return fmt.Errorf("addresses: set %s %s: %w", row.Address, st, err)
	}
	return s.audit(ctx, a, action, row.Address, "")
}

// SetComment sets the comment on the actor's own hold of addr.
func (s *Service) SetComment(ctx context.Context, a Actor, addr, comment string) error {
	if err := validateComment(comment); err != nil {
		return err
	}
	return s.updateHolding(ctx, a, addr, func(h *store.Holding) { h.Comment = comment })
}

// SetFavorite sets the favorite flag on the actor's own hold of addr.
func (s *Service) SetFavorite(ctx context.Context, a Actor, addr string, fav bool) error {
	return s.updateHolding(ctx, a, addr, func(h *store.Holding) { h.Favorite = fav })
}

// updateHolding applies change to the actor's own hold. Comments and
// favorites are per holder, so an actor who does not hold the address
// (the operator, or an admin looking at someone else's) has nothing to
// change.
func (s *Service) updateHolding(ctx context.Context, a Actor, addr string, change func(*store.Holding)) error {
	row, _, err := s.load(ctx, a, addr)
	if err != nil {
		return err
	}
	for _, h := range row.Holders {
		if a.Operator || h.UserID != a.UserID {
			continue
		}
		change(&h)
		err := s.st.UpdateHolding(ctx, row.Address, h)
		if errors.Is(err, store.ErrNotFound) {
			return errorf(ErrNotFound, "%q does not exist", row.Address)
		}
		if err != nil {
			return fmt.Errorf("addresses: update %s: %w", row.Address, err)
		}
		return nil
	}
	return errorf(ErrForbidden, "%s does not hold %q; comments and favorites belong to each holder", a.Name, row.Address)
}

// AddHolder shares addr with another user: mail to it is delivered to them
// too. A plain user may share only an address they hold.
func (s *Service) AddHolder(ctx context.Context, a Actor, addr, userName string) error {
	row, _, err := s.load(ctx, a, addr)
	if err != nil {
		return err
	}
	u, err := s.user(ctx, userName)
	if err != nil {
		return err
	}
	for _, h := range row.Holders {
		if h.UserID == u.ID {
			return errorf(ErrExists, "%q is already held by %s", row.Address, u.Name)
		}
	}
	err = s.st.AddHolder(ctx, row.Address, store.Holding{UserID: u.ID, UserName: u.Name, CreatedAt: s.now()})
	switch {
	case errors.Is(err, store.ErrExists):
		return errorf(ErrExists, "%q is already held by %s", row.Address, u.Name)
	case err != nil:
		return fmt.Errorf("addresses: share %s with %s: %w", row.Address, u.Name, err)
	}
	return s.audit(ctx, a, "address.share", row.Address, "with "+u.Name)
}

// Grant lets userName create addresses on apex. Only admins and the
// operator may grant. Granting twice is not an error and is audited once.
func (s *Service) Grant(ctx context.Context, a Actor, userName, apex string) error {
	u, apex, err := s.grantArgs(ctx, a, userName, apex)
	if err != nil {
		return err
	}
	had, err := s.st.HasGrant(ctx, u.ID, apex)
	if err != nil {
		return fmt.Errorf("addresses: grant of %s on %s: %w", u.Name, apex, err)
	}
	if had {
		return nil
	}
	if err := s.st.Grant(ctx, u.ID, apex); err != nil {
		return fmt.Errorf("addresses: grant %s to %s: %w", apex, u.Name, err)
	}
	return s.audit(ctx, a, "user.grant", u.Name, apex)
}

// Ungrant withdraws userName's grant on apex; their existing addresses
// stay. Withdrawing a grant the user does not have is ErrNotGranted.
func (s *Service) Ungrant(ctx context.Context, a Actor, userName, apex string) error {
	u, apex, err := s.grantArgs(ctx, a, userName, apex)
	if err != nil {
		return err
	}
	ok, err := s.st.HasGrant(ctx, u.ID, apex)
	if err != nil {
		return fmt.Errorf("addresses: grant of %s on %s: %w", u.Name, apex, err)
	}
	if !ok {
		return errorf(ErrNotGranted, "user %q has no grant on %s", u.Name, apex)
	}
	if err := s.st.Ungrant(ctx, u.ID, apex); err != nil {
		return fmt.Errorf("addresses: ungrant %s from %s: %w", apex, u.Name, err)
	}
	return s.audit(ctx, a, "user.ungrant", u.Name, apex)
}

// grantArgs authorizes a grant change and resolves its user and apex.
func (s *Service) grantArgs(ctx context.Context, a Actor, userName, apex string) (store.User, string, error) {
	if !a.privileged() {
		return store.User{}, "", errorf(ErrForbidden, "only an admin may grant apexes (asked by %q)", a.Name)
	}
	u, err := s.user(ctx, userName)
	if err != nil {
		return store.User{}, "", err
	}
	apexes, err := s.apexes(ctx)
	if err != nil {
		return store.User{}, "", err
	}
	if c := canonicalDomain(apex); contains(apexes, c) {
		return u, c, nil
	}
	return store.User{}, "", errorf(ErrUnknownApex, "apex %q is not configured (add it with \"cabalmail domain add\")", apex)
}

// audit records a change made by an admin or the operator. Changes users
// make to their own addresses are not audited. The change itself has
// already happened when this fails, and the error says so.
func (s *Service) audit(ctx context.Context, a Actor, action, target, detail string) error {
	if !a.privileged() {
		return nil
	}
	e := &store.AuditEntry{Time: s.now(), Actor: a.Name, Action: action, Target: target, Detail: detail}
	if err := s.st.AddAudit(ctx, e); err != nil {
		return fmt.Errorf("addresses: %s %s was done but not written to the audit log: %w", action, target, err)
	}
	return nil
}
