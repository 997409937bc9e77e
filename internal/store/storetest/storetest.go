// Package storetest is the conformance suite of the metadata store: the
// behaviour every backend of store.Store must show, written once and run
// against each backend (store/sqlite now, store/postgres later) from that
// backend's own tests.
//
// It is in charge of the contract the interface comments promise: sentinel
// errors, cascades, ordering, time round-trips and concurrent writers. It is
// not in charge of backend specifics such as files, pragmas or migrations;
// each backend tests those itself.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/cabalmail/cabalmail/internal/store"
)

// Run runs the whole suite. open must return a new, empty, migrated store
// for each call; Run closes it when the subtest that opened it ends.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	fresh := func(t *testing.T) store.Store {
		t.Helper()
		s := open(t)
		t.Cleanup(func() {
			if err := s.Close(); err != nil {
				t.Errorf("close: %v", err)
			}
		})
		return s
	}
	t.Run("Users", func(t *testing.T) { testUsers(t, fresh) })
	t.Run("DeleteUser", func(t *testing.T) { testDeleteUser(t, fresh) })
	t.Run("Grants", func(t *testing.T) { testGrants(t, fresh) })
	t.Run("Domains", func(t *testing.T) { testDomains(t, fresh) })
	t.Run("CreateAddress", func(t *testing.T) { testCreateAddress(t, fresh) })
	t.Run("ListAddresses", func(t *testing.T) { testListAddresses(t, fresh) })
	t.Run("AddressState", func(t *testing.T) { testAddressState(t, fresh) })
	t.Run("DeleteAddress", func(t *testing.T) { testDeleteAddress(t, fresh) })
	t.Run("Holders", func(t *testing.T) { testHolders(t, fresh) })
	t.Run("CountReceived", func(t *testing.T) { testCountReceived(t, fresh) })
	t.Run("Tokens", func(t *testing.T) { testTokens(t, fresh) })
	t.Run("Events", func(t *testing.T) { testEvents(t, fresh) })
	t.Run("Settings", func(t *testing.T) { testSettings(t, fresh) })
	t.Run("Audit", func(t *testing.T) { testAudit(t, fresh) })
	t.Run("Times", func(t *testing.T) { testTimes(t, fresh) })
	t.Run("Concurrency", func(t *testing.T) { testConcurrency(t, fresh) })
	t.Run("Races", func(t *testing.T) { testRaces(t, fresh) })
	t.Run("Sessions", func(t *testing.T) { testSessions(t, fresh) })
	t.Run("Invites", func(t *testing.T) { testInvites(t, fresh) })
	t.Run("TOTP", func(t *testing.T) { testTOTP(t, fresh) })
	t.Run("TokenListing", func(t *testing.T) { testTokenListing(t, fresh) })
	runMailboxes(t, fresh)   // mailbox.go
	runQueue(t, fresh)       // queue.go
	runSuppression(t, fresh) // suppression.go
	runBatched(t, fresh)     // batch.go
}

// opener is the per-subtest store factory Run hands to each test.
type opener func(t *testing.T) store.Store

// ctx bounds every call of the suite, so a backend that hangs fails a test
// instead of stalling the run.
func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return c
}

func mustUser(t *testing.T, s store.Store, name string) store.User {
	t.Helper()
	u := store.User{Name: name, PasswordHash: "$argon2id$v=19$m=65536,t=1,p=4$c2FsdA$aGFzaA", Status: store.UserActive}
	if err := s.CreateUser(ctx(t), &u); err != nil {
		t.Fatalf("create user %s: %v", name, err)
	}
	return u
}

func mustDomain(t *testing.T, s store.Store, apex string) store.Domain {
	t.Helper()
	d := store.Domain{Apex: apex, DKIMSelector: "cm1", DKIMKeyPEM: "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----\n"}
	if err := s.CreateDomain(ctx(t), &d); err != nil {
		t.Fatalf("create domain %s: %v", apex, err)
	}
	return d
}

// newAddress builds local@sub.apex held by the given users.
func newAddress(local, sub, apex string, holders ...store.User) store.Address {
	a := store.Address{
		Address:   local + "@" + sub + "." + apex,
		Local:     local,
		Subdomain: sub,
		Apex:      apex,
		State:     store.AddressActive,
	}
	for _, u := range holders {
		a.Holders = append(a.Holders, store.Holding{UserID: u.ID, Comment: "for " + u.Name})
	}
	return a
}

func mustAddress(t *testing.T, s store.Store, local, sub, apex string, holders ...store.User) store.Address {
	t.Helper()
	a := newAddress(local, sub, apex, holders...)
	if err := s.CreateAddress(ctx(t), &a); err != nil {
		t.Fatalf("create address %s: %v", a.Address, err)
	}
	return a
}

// wantErr fails unless err wraps target.
func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s: got error %v, want %v", what, err, target)
	}
}

// wantInvalid fails unless err wraps store.ErrInvalid: bad input is
// refused as such, not mistaken for a missing or duplicate row.
func wantInvalid(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, store.ErrInvalid) {
		t.Errorf("%s: got error %v, want %v", what, err, store.ErrInvalid)
	}
}

func noErr(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// wantUTC fails unless tm is in UTC.
func wantUTC(t *testing.T, what string, tm time.Time) {
	t.Helper()
	if tm.Location() != time.UTC {
		t.Errorf("%s: time %v is in %v, want UTC", what, tm, tm.Location())
	}
}

// wantRecent fails unless tm is set, in UTC and within the last minute.
func wantRecent(t *testing.T, what string, tm time.Time) {
	t.Helper()
	wantUTC(t, what, tm)
	if d := time.Since(tm); tm.IsZero() || d < -time.Second || d > time.Minute {
		t.Errorf("%s: time %v is not recent", what, tm)
	}
}

func wantTime(t *testing.T, what string, got, want time.Time) {
	t.Helper()
	if !got.Equal(want) {
		t.Errorf("%s: time %v, want %v", what, got, want)
	}
	if !got.IsZero() {
		wantUTC(t, what, got)
	}
}

func addressNames(as []store.Address) []string {
	names := make([]string, len(as))
	for i, a := range as {
		names[i] = a.Address
	}
	return names
}

func holderNames(a store.Address) []string {
	names := make([]string, len(a.Holders))
	for i, h := range a.Holders {
		names[i] = h.UserName
	}
	return names
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func wantStrings(t *testing.T, what string, got, want []string) {
	t.Helper()
	if !equalStrings(got, want) {
		t.Errorf("%s: got %q, want %q", what, got, want)
	}
}

// holding returns u's holding in a.
func holding(t *testing.T, a store.Address, u store.User) store.Holding {
	t.Helper()
	for _, h := range a.Holders {
		if h.UserID == u.ID {
			return h
		}
	}
	t.Fatalf("%s: no holding of %s", a.Address, u.Name)
	return store.Holding{}
}

func name(prefix string, i int) string { return fmt.Sprintf("%s%03d", prefix, i) }
