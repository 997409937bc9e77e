package addresses

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/cabalmail/cabalmail/internal/store"
)

// maxComment is the longest holder comment, in octets.
const maxComment = 1024

// CreateRequest asks for a new address: either a given Address, or a Random
// one on Apex.
type CreateRequest struct {
	Address string // "shop@x1.example.test"; or
	Random  bool   // draw the local part and the subdomain at random on Apex
	Apex    string
	// Users names the holders. Empty means the actor alone; the operator,
	// who holds nothing, must name at least one. A plain user must be one
	// of the holders.
	Users []string
	// Comment is set on every holder's hold.
	Comment string
}

// Create validates req, authorizes it for a and stores the new active
// address. Nothing is stored when any check fails.
func (s *Service) Create(ctx context.Context, a Actor, req CreateRequest) (store.Address, error) {
	if err := validateComment(req.Comment); err != nil {
		return store.Address{}, err
	}
	switch {
	case req.Random && req.Address != "":
		return store.Address{}, errorf(ErrInvalid, "give either an address or a random request, not both (%q)", req.Address)
	case req.Random && req.Apex == "":
		return store.Address{}, errorf(ErrInvalid, "a random address needs an apex")
	case !req.Random && req.Address == "":
		return store.Address{}, errorf(ErrInvalid, "address is empty")
	}
	apexes, err := s.apexes(ctx)
	if err != nil {
		return store.Address{}, err
	}
	var p Parsed
	if req.Random {
		apex := canonicalDomain(req.Apex)
		if !contains(apexes, apex) {
			return store.Address{}, errorf(ErrUnknownApex, "apex %q is not configured (add it with \"cabalmail domain add\")", req.Apex)
		}
		p.Apex = apex
	} else {
		if p, err = parse(req.Address, apexes); err != nil {
			return store.Address{}, err
		}
		if req.Apex != "" && canonicalDomain(req.Apex) != p.Apex {
			return store.Address{}, errorf(ErrInvalid, "%q is not on apex %q", req.Address, req.Apex)
		}
		if s.Reserved(p.Apex, p.Subdomain) {
			return store.Address{}, errorf(ErrReserved, "%q is a reserved label on %s", p.Subdomain, p.Apex)
		}
	}
	holders, err := s.holders(ctx, a, req.Users)
	if err != nil {
		return store.Address{}, err
	}
	if !a.privileged() {
		ok, err := s.st.HasGrant(ctx, a.UserID, p.Apex)
		if err != nil {
			return store.Address{}, fmt.Errorf("addresses: grant of %s on %s: %w", a.Name, p.Apex, err)
		}
		if !ok {
			return store.Address{}, errorf(ErrNotGranted, "user %q may not create addresses on %s (an admin can grant it with \"cabalmail user grant %s %s\")", a.Name, p.Apex, a.Name, p.Apex)
		}
	}
	now := s.now()
	for i := range holders {
		holders[i].Comment = req.Comment
		holders[i].CreatedAt = now
	}
	row := store.Address{State: store.AddressActive, CreatedAt: now, ChangedAt: now, Holders: holders}
	if req.Random {
		err = s.createRandom(ctx, apexes, p.Apex, &row)
	} else {
		err = s.insert(ctx, p, &row)
	}
	if err != nil {
		return store.Address{}, err
	}
	if err := s.audit(ctx, a, "address.create", row.Address, "holders "+holderNames(row.Holders)); err != nil {
		return row, err
	}
	return row, nil
}

// insert stores row under the parsed name p.
func (s *Service) insert(ctx context.Context, p Parsed, row *store.Address) error {
	row.Address, row.Local, row.Subdomain, row.Apex = p.String(), p.Local, p.Subdomain, p.Apex
	err := s.st.CreateAddress(ctx, row)
	switch {
	case errors.Is(err, store.ErrExists):
		return errorf(ErrExists, "%q already exists", row.Address)
	case err != nil: // including ErrNotFound: the apex or a holder went away since we looked

		return fmt.Errorf("addresses: create %s: %w", row.Address, err)
	}
	return nil
}

// createRandom draws random names on apex until one is free.
func (s *Service) createRandom(ctx context.Context, apexes []string, apex string, row *store.Address) error {
	for range randomTries {
		local, sub, err := randomParts(s.rand)
		if err != nil {
			return err
		}
		if s.Reserved(apex, sub) || contains(apexes, sub+"."+apex) {
			continue // never a reserved label, nor the name of another apex
		}
		p, err := parse(local+"@"+sub+"."+apex, apexes)
		if err != nil {
			return err // the apex leaves no room (length limits)
		}
		err = s.insert(ctx, p, row)
		if errors.Is(err, ErrExists) {
			continue
		}
		return err
	}
	return errorf(ErrExists, "no free random address on %s after %d tries", apex, randomTries)
}

// holders resolves the named users (the actor alone when none are named)
// into holdings.
func (s *Service) holders(ctx context.Context, a Actor, names []string) ([]store.Holding, error) {
	if len(names) == 0 {
		if a.Operator || a.UserID == 0 {
			return nil, errorf(ErrInvalid, "name at least one user to hold the address")
		}
		return []store.Holding{{UserID: a.UserID, UserName: a.Name}}, nil
	}
	var hs []store.Holding
	seen := map[int64]bool{}
	for _, name := range names {
		u, err := s.user(ctx, name)
		if err != nil {
			return nil, err
		}
		if !seen[u.ID] {
			seen[u.ID] = true
			hs = append(hs, store.Holding{UserID: u.ID, UserName: u.Name})
		}
	}
	if !a.privileged() && !seen[a.UserID] {
		return nil, errorf(ErrForbidden, "user %q may create only addresses they hold themselves", a.Name)
	}
	return hs, nil
}

// user loads a user by name.
func (s *Service) user(ctx context.Context, name string) (store.User, error) {
	u, err := s.st.UserByName(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return store.User{}, errorf(ErrUnknownUser, "user %q does not exist", name)
	}
	if err != nil {
		return store.User{}, fmt.Errorf("addresses: user %s: %w", name, err)
	}
	return u, nil
}

// validateComment refuses comments that would not display on one line.
func validateComment(c string) error {
	switch {
	case len(c) > maxComment:
		return errorf(ErrInvalid, "comment is %d octets long; at most %d are allowed", len(c), maxComment)
	case !utf8.ValidString(c):
		return errorf(ErrInvalid, "comment %q is not valid UTF-8", c)
	case strings.IndexFunc(c, unicode.IsControl) >= 0:
		return errorf(ErrInvalid, "comment %q contains control characters or line breaks", c)
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func holderNames(hs []store.Holding) string {
	names := make([]string, len(hs))
	for i, h := range hs {
		names[i] = h.UserName
	}
	return strings.Join(names, ",")
}
