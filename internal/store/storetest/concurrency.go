package storetest

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/cabalmail/cabalmail/internal/store"
)

// testConcurrency runs writers side by side, as the server's roles and the
// CLI do: no write may be lost, and a race for one name has exactly one
// winner while every loser gets ErrExists.
func testConcurrency(t *testing.T, open opener) {
	s := open(t)
	c := ctx(t)
	mustDomain(t, s, "example.test")
	const workers, each = 6, 8

	// Distinct users from every worker, plus every worker racing for the
	// same names.
	var wg sync.WaitGroup
	errs := make(chan error, workers*each*2)
	wins := make([]int, each)
	var mu sync.Mutex
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < each; i++ {
				u := store.User{Name: name("w"+string(rune('a'+w))+"-", i)}
				if err := s.CreateUser(c, &u); err != nil {
					errs <- err
				}
				shared := store.User{Name: name("shared", i)}
				switch err := s.CreateUser(c, &shared); {
				case err == nil:
					mu.Lock()
					wins[i]++
					mu.Unlock()
				case errors.Is(err, store.ErrExists):
				default:
					errs <- err
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent create user: %v", err)
	}
	for i, n := range wins {
		if n != 1 {
			t.Errorf("%s created %d times, want once", name("shared", i), n)
		}
	}
	users, err := s.ListUsers(c)
	noErr(t, "list users", err)
	if want := workers*each + each; len(users) != want {
		t.Errorf("%d users after concurrent creation, want %d", len(users), want)
	}
	ids := make(map[int64]bool)
	for _, u := range users {
		if ids[u.ID] {
			t.Errorf("ID %d given twice", u.ID)
		}
		ids[u.ID] = true
	}

	// Addresses: each worker creates its own and races for shared names;
	// then every worker counts mail on one address and joins it as holder.
	owner := users[0]
	hot := mustAddress(t, s, "hot", "x0", "example.test", owner)
	errs = make(chan error, workers*each*4)
	addrWins := make([]int, each)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			u := users[w+1]
			for i := 0; i < each; i++ {
				a := newAddress(name("own", i), "w"+string(rune('a'+w)), "example.test", u)
				if err := s.CreateAddress(c, &a); err != nil {
					errs <- err
				}
				b := newAddress(name("race", i), "race", "example.test", u)
				switch err := s.CreateAddress(c, &b); {
				case err == nil:
					mu.Lock()
					addrWins[i]++
					mu.Unlock()
				case errors.Is(err, store.ErrExists):
				default:
					errs <- err
				}
				if err := s.CountReceived(c, hot.Address, time.Time{}); err != nil {
					errs <- err
				}
			}
			if err := s.AddHolder(c, hot.Address, store.Holding{UserID: u.ID}); err != nil {
				errs <- err
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent address write: %v", err)
	}
	for i, n := range addrWins {
		if n != 1 {
			t.Errorf("race address %d created %d times, want once", i, n)
		}
	}
	all, err := s.ListAddresses(c, store.AddressFilter{Apex: "example.test"})
	noErr(t, "list addresses", err)
	if want := 1 + workers*each + each; len(all) != want {
		t.Errorf("%d addresses after concurrent creation, want %d", len(all), want)
	}
	got, err := s.AddressByName(c, hot.Address)
	noErr(t, "hot address", err)
	if len(got.Holders) != workers+1 {
		t.Errorf("hot address has %d holders, want %d", len(got.Holders), workers+1)
	}
	if h := holding(t, got, owner); h.Received != workers*each {
		t.Errorf("hot address counted %d messages, want %d (lost updates)", h.Received, workers*each)
	}
}

// testRaces checks the cascades under concurrency: when holders leave an
// address at the same time, exactly one of them is told it was the last
// and the address goes; concurrent grants of the same apex all succeed.
func testRaces(t *testing.T, open opener) {
	s := open(t)
	c := ctx(t)
	mustDomain(t, s, "example.test")
	const n = 6
	var users []store.User
	for i := range n {
		users = append(users, mustUser(t, s, name("u", i)))
	}

	// Everyone leaves one address at once.
	a := mustAddress(t, s, "family", "home", "example.test", users...)
	lasts := make(chan bool, n)
	errs := make(chan error, 2*n)
	var wg sync.WaitGroup
	for _, u := range users {
		wg.Add(1)
		go func() {
			defer wg.Done()
			last, err := s.RemoveHolder(c, a.Address, u.ID)
			if err != nil {
				errs <- err
			}
			lasts <- last
		}()
	}
	wg.Wait()
	close(lasts)
	nLast := 0
	for l := range lasts {
		if l {
			nLast++
		}
	}
	if nLast != 1 {
		t.Errorf("%d holders were told they were the last, want 1", nLast)
	}
	_, err := s.AddressByName(c, a.Address)
	wantErr(t, "address after every holder left", err, store.ErrNotFound)

	// Every holder's account is deleted at once: the shared address is
	// revoked, and reported, exactly once.
	b := mustAddress(t, s, "shared", "home", "example.test", users...)
	revokedBy := make(chan []string, n)
	for _, u := range users {
		wg.Add(1)
		go func() {
			defer wg.Done()
			revoked, err := s.DeleteUser(c, u.ID)
			if err != nil {
				errs <- err
			}
			revokedBy <- revoked
		}()
	}
	wg.Wait()
	close(revokedBy)
	var all []string
	for r := range revokedBy {
		all = append(all, r...)
	}
	wantStrings(t, "revoked by concurrent deletions", all, []string{b.Address})
	_, err = s.AddressByName(c, b.Address)
	wantErr(t, "address after every holder was deleted", err, store.ErrNotFound)

	// Concurrent grants of one apex to one user: idempotent under races.
	u := mustUser(t, s, "granted")
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.Grant(c, u.ID, "example.test"); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent call: %v", err)
	}
	gs, err := s.Grants(c, u.ID)
	noErr(t, "grants", err)
	wantStrings(t, "grants after concurrent grants", gs, []string{"example.test"})
}
