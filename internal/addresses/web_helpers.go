package addresses

import (
	"context"
	"errors"
	"fmt"

	"github.com/cabalmail/cabalmail/internal/store"
)

// RemoveHolder takes userName's hold on addr away: an admin unassigning a
// user. Only admins and the operator may; a user leaves an address with
// Revoke. Removing the last holder revokes the address, and revoked says
// so.
func (s *Service) RemoveHolder(ctx context.Context, a Actor, addr, userName string) (revoked bool, err error) {
	if !a.privileged() {
		return false, errorf(ErrForbidden, "only an admin may unassign users (asked by %q)", a.Name)
	}
	row, _, err := s.load(ctx, a, addr)
	if err != nil {
		return false, err
	}
	u, err := s.user(ctx, userName)
	if err != nil {
		return false, err
	}
	held := false
	for _, h := range row.Holders {
		held = held || h.UserID == u.ID
	}
	if !held {
		return false, errorf(ErrNotFound, "%q is not held by %s", row.Address, u.Name)
	}
	last, err := s.st.RemoveHolder(ctx, row.Address, u.ID)
	if errors.Is(err, store.ErrNotFound) {
		return false, errorf(ErrNotFound, "%q is not held by %s", row.Address, u.Name)
	}
	if err != nil {
		return false, fmt.Errorf("addresses: unassign %s from %s: %w", u.Name, row.Address, err)
	}
	detail := "from " + u.Name
	if last {
		detail += "; last holder, address revoked"
	}
	return last, s.audit(ctx, a, "address.unshare", row.Address, detail)
}
