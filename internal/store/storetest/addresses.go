package storetest

import (
	"testing"
	"time"

	"github.com/cabalmail/cabalmail/internal/store"
)

func testCreateAddress(t *testing.T, open opener) {
	s := open(t)
	c := ctx(t)
	mustDomain(t, s, "example.test")
	alice := mustUser(t, s, "alice")
	bob := mustUser(t, s, "bob")

	a := newAddress("shop", "x1", "example.test", alice, bob)
	a.State = ""
	a.Holders[1].Favorite = true
	noErr(t, "create", s.CreateAddress(c, &a))
	if a.ID == 0 {
		t.Error("CreateAddress left ID unset")
	}
	if a.State != store.AddressActive {
		t.Errorf("empty state became %q, want %q", a.State, store.AddressActive)
	}
	wantRecent(t, "address created", a.CreatedAt)
	wantTime(t, "address changed", a.ChangedAt, a.CreatedAt)
	wantStrings(t, "holder names filled", holderNames(a), []string{"alice", "bob"})
	for _, h := range a.Holders {
		wantRecent(t, "holding created", h.CreatedAt)
	}

	got, err := s.AddressByName(c, "shop@x1.example.test")
	noErr(t, "by name", err)
	if got.ID != a.ID || got.Address != a.Address || got.Local != "shop" || got.Subdomain != "x1" ||
		got.Apex != "example.test" || got.State != store.AddressActive {
		t.Errorf("AddressByName = %+v, want %+v", got, a)
	}
	wantTime(t, "stored created", got.CreatedAt, a.CreatedAt)
	wantTime(t, "stored changed", got.ChangedAt, a.ChangedAt)
	if len(got.Holders) != 2 {
		t.Fatalf("holders %+v, want alice and bob", got.Holders)
	}
	ha, hb := holding(t, got, alice), holding(t, got, bob)
	if ha.UserName != "alice" || ha.Comment != "for alice" || ha.Favorite || ha.Received != 0 || !ha.LastReceived.IsZero() {
		t.Errorf("alice's holding %+v", ha)
	}
	if hb.UserName != "bob" || hb.Comment != "for bob" || !hb.Favorite {
		t.Errorf("bob's holding %+v", hb)
	}

	// The address exists in any state: a suspended address is still taken.
	noErr(t, "suspend", s.SetAddressState(c, a.Address, store.AddressSuspended))
	dup := newAddress("shop", "x1", "example.test", bob)
	wantErr(t, "duplicate", s.CreateAddress(c, &dup), store.ErrExists)
	got, _ = s.AddressByName(c, a.Address)
	if got.State != store.AddressSuspended || len(got.Holders) != 2 {
		t.Errorf("refused duplicate changed the address: %+v", got)
	}
	_, err = s.AddressByName(c, "Shop@x1.example.test")
	wantErr(t, "address by other case", err, store.ErrNotFound)

	// Refusals leave nothing behind: the address and its holders go in one
	// transaction.
	noApex := newAddress("a", "x2", "nowhere.test", alice)
	wantErr(t, "unknown apex", s.CreateAddress(c, &noApex), store.ErrNotFound)
	ghost := newAddress("b", "x2", "example.test", alice)
	ghost.Holders = append(ghost.Holders, store.Holding{UserID: alice.ID + bob.ID + 100})
	wantErr(t, "unknown holder", s.CreateAddress(c, &ghost), store.ErrNotFound)
	twice := newAddress("c", "x2", "example.test", alice, alice)
	wantErr(t, "same holder twice", s.CreateAddress(c, &twice), store.ErrExists)
	orphan := newAddress("d", "x2", "example.test")
	wantInvalid(t, "no holder", s.CreateAddress(c, &orphan))
	mismatch := newAddress("e", "x2", "example.test", alice)
	mismatch.Address = "other@x2.example.test"
	wantInvalid(t, "name disagrees with parts", s.CreateAddress(c, &mismatch))
	noSub := store.Address{Address: "f@example.test", Local: "f", Apex: "example.test", Holders: []store.Holding{{UserID: alice.ID}}}
	wantInvalid(t, "no subdomain", s.CreateAddress(c, &noSub))
	badState := newAddress("g", "x2", "example.test", alice)
	badState.State = "revoked"
	wantInvalid(t, "bad state", s.CreateAddress(c, &badState))

	all, err := s.ListAddresses(c, store.AddressFilter{})
	noErr(t, "list", err)
	wantStrings(t, "addresses after refusals", addressNames(all), []string{"shop@x1.example.test"})

	_, err = s.AddressByName(c, "nobody@x9.example.test")
	wantErr(t, "unknown address", err, store.ErrNotFound)
}

func testListAddresses(t *testing.T, open opener) {
	s := open(t)
	c := ctx(t)
	mustDomain(t, s, "example.test")
	mustDomain(t, s, "other.test")
	alice := mustUser(t, s, "alice")
	bob := mustUser(t, s, "bob")
	carol := mustUser(t, s, "carol")

	mustAddress(t, s, "zoo", "x1", "example.test", alice)
	mustAddress(t, s, "bank", "x1", "example.test", bob, alice)
	mustAddress(t, s, "club", "x2", "example.test", bob)
	mustAddress(t, s, "amazon", "shop", "other.test", alice)
	mustAddress(t, s, "news", "x1", "other.test", bob)

	for _, tc := range []struct {
		name string
		f    store.AddressFilter
		want []string
	}{
		{"all", store.AddressFilter{}, []string{"amazon@shop.other.test", "bank@x1.example.test", "club@x2.example.test", "news@x1.other.test", "zoo@x1.example.test"}},
		{"alice", store.AddressFilter{UserID: alice.ID}, []string{"amazon@shop.other.test", "bank@x1.example.test", "zoo@x1.example.test"}},
		{"bob", store.AddressFilter{UserID: bob.ID}, []string{"bank@x1.example.test", "club@x2.example.test", "news@x1.other.test"}},
		{"carol", store.AddressFilter{UserID: carol.ID}, nil},
		{"apex", store.AddressFilter{Apex: "example.test"}, []string{"bank@x1.example.test", "club@x2.example.test", "zoo@x1.example.test"}},
		{"subdomain", store.AddressFilter{Apex: "example.test", Subdomain: "x1"}, []string{"bank@x1.example.test", "zoo@x1.example.test"}},
		{"user and apex", store.AddressFilter{UserID: bob.ID, Apex: "other.test"}, []string{"news@x1.other.test"}},
		{"unknown apex", store.AddressFilter{Apex: "nowhere.test"}, nil},
	} {
		got, err := s.ListAddresses(c, tc.f)
		noErr(t, tc.name, err)
		wantStrings(t, "ListAddresses "+tc.name, addressNames(got), tc.want)
	}

	// Filtering by user still returns every holder of each address.
	got, err := s.ListAddresses(c, store.AddressFilter{UserID: alice.ID})
	noErr(t, "list", err)
	for _, a := range got {
		if a.Address == "bank@x1.example.test" {
			if len(a.Holders) != 2 {
				t.Errorf("bank holders %+v, want bob and alice", a.Holders)
			}
			for _, h := range a.Holders {
				if h.UserName == "" {
					t.Errorf("holding without user name: %+v", h)
				}
			}
			holding(t, a, alice)
			holding(t, a, bob)
		} else if len(a.Holders) != 1 || a.Holders[0].UserName != "alice" {
			t.Errorf("%s holders %+v, want alice", a.Address, a.Holders)
		}
		wantUTC(t, "listed created", a.CreatedAt)
		wantUTC(t, "listed changed", a.ChangedAt)
	}
}

func testAddressState(t *testing.T, open opener) {
	s := open(t)
	c := ctx(t)
	mustDomain(t, s, "example.test")
	alice := mustUser(t, s, "alice")
	a := mustAddress(t, s, "shop", "x1", "example.test", alice)

	time.Sleep(2 * time.Millisecond)
	noErr(t, "suspend", s.SetAddressState(c, a.Address, store.AddressSuspended))
	got, err := s.AddressByName(c, a.Address)
	noErr(t, "by name", err)
	if got.State != store.AddressSuspended {
		t.Errorf("state %q, want suspended", got.State)
	}
	if !got.ChangedAt.After(a.ChangedAt) {
		t.Errorf("ChangedAt %v did not move past %v", got.ChangedAt, a.ChangedAt)
	}
	wantTime(t, "created after suspend", got.CreatedAt, a.CreatedAt)
	if len(got.Holders) != 1 {
		t.Errorf("suspension touched holders: %+v", got.Holders)
	}

	// Setting the state it already has is not a change.
	time.Sleep(2 * time.Millisecond)
	noErr(t, "suspend again", s.SetAddressState(c, a.Address, store.AddressSuspended))
	again, _ := s.AddressByName(c, a.Address)
	wantTime(t, "changed after no-op", again.ChangedAt, got.ChangedAt)

	noErr(t, "reinstate", s.SetAddressState(c, a.Address, store.AddressActive))
	got, _ = s.AddressByName(c, a.Address)
	if got.State != store.AddressActive {
		t.Errorf("state %q after reinstate, want active", got.State)
	}

	wantErr(t, "unknown address", s.SetAddressState(c, "nobody@x1.example.test", store.AddressSuspended), store.ErrNotFound)
	wantInvalid(t, "bad state", s.SetAddressState(c, a.Address, "revoked"))
	wantInvalid(t, "empty state", s.SetAddressState(c, a.Address, ""))
	got, _ = s.AddressByName(c, a.Address)
	if got.State != store.AddressActive {
		t.Errorf("refused state change stored %q", got.State)
	}
}

func testDeleteAddress(t *testing.T, open opener) {
	s := open(t)
	c := ctx(t)
	mustDomain(t, s, "example.test")
	alice := mustUser(t, s, "alice")
	bob := mustUser(t, s, "bob")
	a := mustAddress(t, s, "shop", "x1", "example.test", alice, bob)
	mustAddress(t, s, "keep", "x1", "example.test", alice)

	noErr(t, "delete", s.DeleteAddress(c, a.Address))
	_, err := s.AddressByName(c, a.Address)
	wantErr(t, "deleted address", err, store.ErrNotFound)
	wantErr(t, "delete twice", s.DeleteAddress(c, a.Address), store.ErrNotFound)
	for _, u := range []store.User{alice, bob} {
		held, err := s.ListAddresses(c, store.AddressFilter{UserID: u.ID})
		noErr(t, "list", err)
		for _, h := range held {
			if h.Address == a.Address {
				t.Errorf("%s still holds the deleted address", u.Name)
			}
		}
	}
	_, err = s.UserByID(c, alice.ID)
	noErr(t, "holder survives revocation", err)

	// A revoked name may be created afresh, with fresh holdings.
	b := mustAddress(t, s, "shop", "x1", "example.test", bob)
	if b.ID == a.ID {
		t.Errorf("re-created address reused ID %d", a.ID)
	}
	got, err := s.AddressByName(c, b.Address)
	noErr(t, "re-created", err)
	wantStrings(t, "re-created holders", holderNames(got), []string{"bob"})
}

func testHolders(t *testing.T, open opener) {
	s := open(t)
	c := ctx(t)
	mustDomain(t, s, "example.test")
	alice := mustUser(t, s, "alice")
	bob := mustUser(t, s, "bob")
	carol := mustUser(t, s, "carol")
	a := mustAddress(t, s, "family", "home", "example.test", alice)

	noErr(t, "add bob", s.AddHolder(c, a.Address, store.Holding{UserID: bob.ID, Comment: "shared", Favorite: true}))
	got, err := s.AddressByName(c, a.Address)
	noErr(t, "by name", err)
	hb := holding(t, got, bob)
	if hb.UserName != "bob" || hb.Comment != "shared" || !hb.Favorite {
		t.Errorf("bob's new holding %+v", hb)
	}
	wantRecent(t, "holding created", hb.CreatedAt)
	held, _ := s.ListAddresses(c, store.AddressFilter{UserID: bob.ID})
	wantStrings(t, "bob's addresses", addressNames(held), []string{a.Address})

	wantErr(t, "add again", s.AddHolder(c, a.Address, store.Holding{UserID: bob.ID, Comment: "again"}), store.ErrExists)
	got, _ = s.AddressByName(c, a.Address)
	if holding(t, got, bob).Comment != "shared" {
		t.Error("refused AddHolder changed the holding")
	}
	wantErr(t, "add to unknown address", s.AddHolder(c, "nobody@x1.example.test", store.Holding{UserID: carol.ID}), store.ErrNotFound)
	wantErr(t, "add unknown user", s.AddHolder(c, a.Address, store.Holding{UserID: carol.ID + 100}), store.ErrNotFound)

	// UpdateHolding changes one user's notes only.
	noErr(t, "update", s.UpdateHolding(c, a.Address, store.Holding{UserID: alice.ID, Comment: "mine", Favorite: true}))
	got, _ = s.AddressByName(c, a.Address)
	if h := holding(t, got, alice); h.Comment != "mine" || !h.Favorite {
		t.Errorf("alice's holding after update %+v", h)
	}
	if h := holding(t, got, bob); h.Comment != "shared" || !h.Favorite {
		t.Errorf("bob's holding changed by alice's update: %+v", h)
	}
	noErr(t, "clear", s.UpdateHolding(c, a.Address, store.Holding{UserID: alice.ID}))
	got, _ = s.AddressByName(c, a.Address)
	if h := holding(t, got, alice); h.Comment != "" || h.Favorite {
		t.Errorf("alice's holding after clearing %+v", h)
	}
	wantErr(t, "update non-holder", s.UpdateHolding(c, a.Address, store.Holding{UserID: carol.ID, Comment: "x"}), store.ErrNotFound)
	wantErr(t, "update unknown address", s.UpdateHolding(c, "nobody@x1.example.test", store.Holding{UserID: alice.ID}), store.ErrNotFound)

	// RemoveHolder: the address goes with its last holder.
	last, err := s.RemoveHolder(c, a.Address, alice.ID)
	noErr(t, "remove alice", err)
	if last {
		t.Error("RemoveHolder reported last holder while bob still holds it")
	}
	got, err = s.AddressByName(c, a.Address)
	noErr(t, "address after first removal", err)
	wantStrings(t, "holders after removal", holderNames(got), []string{"bob"})
	_, err = s.RemoveHolder(c, a.Address, alice.ID)
	wantErr(t, "remove non-holder", err, store.ErrNotFound)
	_, err = s.RemoveHolder(c, a.Address, carol.ID)
	wantErr(t, "remove never-holder", err, store.ErrNotFound)
	last, err = s.RemoveHolder(c, a.Address, bob.ID)
	noErr(t, "remove bob", err)
	if !last {
		t.Error("RemoveHolder did not report the last holder")
	}
	_, err = s.AddressByName(c, a.Address)
	wantErr(t, "address after last holder left", err, store.ErrNotFound)
	_, err = s.RemoveHolder(c, a.Address, bob.ID)
	wantErr(t, "remove from removed address", err, store.ErrNotFound)
}

func testCountReceived(t *testing.T, open opener) {
	s := open(t)
	c := ctx(t)
	mustDomain(t, s, "example.test")
	alice := mustUser(t, s, "alice")
	bob := mustUser(t, s, "bob")
	a := mustAddress(t, s, "family", "home", "example.test", alice, bob)
	other := mustAddress(t, s, "other", "home", "example.test", alice)

	t1 := time.Date(2030, 1, 2, 3, 4, 5, 123456000, time.UTC)
	t2 := t1.Add(time.Hour)
	noErr(t, "count 1", s.CountReceived(c, a.Address, t1))
	noErr(t, "count 2", s.CountReceived(c, a.Address, t2))
	// A late count for an earlier time does not move LastReceived back.
	noErr(t, "count 3", s.CountReceived(c, a.Address, t1))
	got, err := s.AddressByName(c, a.Address)
	noErr(t, "by name", err)
	for _, h := range got.Holders {
		if h.Received != 3 {
			t.Errorf("%s received %d, want 3", h.UserName, h.Received)
		}
		wantTime(t, h.UserName+" last received", h.LastReceived, t2)
	}
	o, _ := s.AddressByName(c, other.Address)
	if h := o.Holders[0]; h.Received != 0 || !h.LastReceived.IsZero() {
		t.Errorf("count leaked to another address: %+v", h)
	}
	wantErr(t, "unknown address", s.CountReceived(c, "nobody@home.example.test", t1), store.ErrNotFound)
}
