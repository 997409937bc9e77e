package storetest

import (
	"testing"

	"github.com/cabalmail/cabalmail/internal/store"
)

func testUsers(t *testing.T, open opener) {
	s := open(t)
	c := ctx(t)

	u := store.User{Name: "bob", PasswordHash: "hash-b", Admin: true, Status: store.UserPending, QuotaBytes: 1 << 30}
	noErr(t, "create bob", s.CreateUser(c, &u))
	if u.ID == 0 {
		t.Error("CreateUser left ID unset")
	}
	wantRecent(t, "bob created", u.CreatedAt)

	got, err := s.UserByName(c, "bob")
	noErr(t, "user by name", err)
	if got != u {
		t.Errorf("UserByName = %+v, want %+v", got, u)
	}
	got, err = s.UserByID(c, u.ID)
	noErr(t, "user by id", err)
	if got != u {
		t.Errorf("UserByID = %+v, want %+v", got, u)
	}

	// An empty status is an active account.
	a := store.User{Name: "alice"}
	noErr(t, "create alice", s.CreateUser(c, &a))
	if a.Status != store.UserActive {
		t.Errorf("CreateUser with empty status set %q, want %q", a.Status, store.UserActive)
	}
	if got, _ := s.UserByName(c, "alice"); got.Status != store.UserActive {
		t.Errorf("stored status %q, want %q", got.Status, store.UserActive)
	}
	if a.ID == u.ID {
		t.Errorf("two users share ID %d", a.ID)
	}

	dup := store.User{Name: "bob", PasswordHash: "other"}
	wantErr(t, "duplicate name", s.CreateUser(c, &dup), store.ErrExists)
	if got, _ := s.UserByName(c, "bob"); got.PasswordHash != "hash-b" {
		t.Errorf("duplicate create changed bob: %+v", got)
	}
	// Names compare exactly: callers pass canonical lower-case names.
	upper := store.User{Name: "Bob"}
	noErr(t, "create Bob", s.CreateUser(c, &upper))
	_, err = s.UserByName(c, "BOB")
	wantErr(t, "user by other case", err, store.ErrNotFound)
	if got, _ := s.UserByName(c, "bob"); got.ID != u.ID {
		t.Errorf("UserByName(bob) = #%d, want #%d", got.ID, u.ID)
	}
	// A deleted user's ID is never handed out again: stale references
	// (logs, sessions, mailbox paths) must not point at a new account.
	_, err = s.DeleteUser(c, upper.ID)
	noErr(t, "delete Bob", err)
	d := store.User{Name: "dave"}
	noErr(t, "create dave", s.CreateUser(c, &d))
	if d.ID == upper.ID {
		t.Errorf("ID %d of a deleted user reused", d.ID)
	}

	wantInvalid(t, "empty name", s.CreateUser(c, &store.User{}))
	wantInvalid(t, "bad status", s.CreateUser(c, &store.User{Name: "carol", Status: "superuser"}))
	_, err = s.UserByName(c, "carol")
	wantErr(t, "user after refused create", err, store.ErrNotFound)

	_, err = s.UserByName(c, "nobody")
	wantErr(t, "unknown name", err, store.ErrNotFound)
	_, err = s.UserByID(c, u.ID+a.ID+d.ID+1000)
	wantErr(t, "unknown id", err, store.ErrNotFound)

	list, err := s.ListUsers(c)
	noErr(t, "list users", err)
	var names []string
	for _, x := range list {
		names = append(names, x.Name)
		wantUTC(t, "listed created", x.CreatedAt)
	}
	wantStrings(t, "ListUsers order", names, []string{"alice", "bob", "dave"})

	// UpdateUser changes password, admin, status and quota, never the name.
	upd := u
	upd.Name = "robert"
	upd.PasswordHash = "hash-b2"
	upd.Admin = false
	upd.Status = store.UserDisabled
	upd.QuotaBytes = 5
	noErr(t, "update", s.UpdateUser(c, upd))
	got, err = s.UserByID(c, u.ID)
	noErr(t, "user after update", err)
	want := u
	want.PasswordHash, want.Admin, want.Status, want.QuotaBytes = "hash-b2", false, store.UserDisabled, 5
	if got != want {
		t.Errorf("after update: %+v, want %+v", got, want)
	}
	wantInvalid(t, "update with bad status", s.UpdateUser(c, store.User{ID: u.ID, Status: "gone"}))
	if got2, _ := s.UserByID(c, u.ID); got2 != want {
		t.Errorf("refused update changed the user: %+v", got2)
	}
	wantErr(t, "update unknown user", s.UpdateUser(c, store.User{ID: u.ID + 1000, Status: store.UserActive}), store.ErrNotFound)

}

func testDeleteUser(t *testing.T, open opener) {
	s := open(t)
	c := ctx(t)
	mustDomain(t, s, "example.test")
	mustDomain(t, s, "other.test")
	alice := mustUser(t, s, "alice")
	bob := mustUser(t, s, "bob")

	mustAddress(t, s, "shop", "x1", "example.test", alice)
	mustAddress(t, s, "bank", "x2", "example.test", alice)
	mustAddress(t, s, "family", "home", "example.test", alice, bob)
	mustAddress(t, s, "club", "x3", "other.test", bob)
	noErr(t, "grant", s.Grant(c, alice.ID, "example.test"))
	noErr(t, "token", s.CreateToken(c, &store.Token{UserID: alice.ID, Hash: "aa01"}))
	noErr(t, "token", s.CreateToken(c, &store.Token{UserID: bob.ID, Hash: "bb01"}))

	revoked, err := s.DeleteUser(c, alice.ID)
	noErr(t, "delete alice", err)
	wantStrings(t, "revoked", revoked, []string{"bank@x2.example.test", "shop@x1.example.test"})

	_, err = s.UserByID(c, alice.ID)
	wantErr(t, "deleted user", err, store.ErrNotFound)
	for _, a := range revoked {
		_, err := s.AddressByName(c, a)
		wantErr(t, "revoked address "+a, err, store.ErrNotFound)
	}
	fam, err := s.AddressByName(c, "family@home.example.test")
	noErr(t, "shared address", err)
	wantStrings(t, "shared address holders", holderNames(fam), []string{"bob"})
	held, err := s.ListAddresses(c, store.AddressFilter{UserID: alice.ID})
	noErr(t, "list", err)
	if len(held) != 0 {
		t.Errorf("deleted user still holds %q", addressNames(held))
	}
	if ok, err := s.HasGrant(c, alice.ID, "example.test"); err != nil || ok {
		t.Errorf("grant of deleted user: %v, %v", ok, err)
	}
	_, err = s.UserByToken(c, "aa01")
	wantErr(t, "token of deleted user", err, store.ErrNotFound)
	if u, err := s.UserByToken(c, "bb01"); err != nil || u.ID != bob.ID {
		t.Errorf("other user's token: %+v, %v", u, err)
	}

	// A user who holds nothing revokes nothing.
	carol := mustUser(t, s, "carol")
	revoked, err = s.DeleteUser(c, carol.ID)
	noErr(t, "delete carol", err)
	if len(revoked) != 0 {
		t.Errorf("deleting a user without addresses revoked %q", revoked)
	}

	_, err = s.DeleteUser(c, alice.ID)
	wantErr(t, "delete twice", err, store.ErrNotFound)
	all, err := s.ListAddresses(c, store.AddressFilter{})
	noErr(t, "list all", err)
	wantStrings(t, "remaining", addressNames(all), []string{"club@x3.other.test", "family@home.example.test"})
}

func testGrants(t *testing.T, open opener) {
	s := open(t)
	c := ctx(t)
	mustDomain(t, s, "example.test")
	mustDomain(t, s, "b.test")
	u := mustUser(t, s, "alice")
	v := mustUser(t, s, "bob")

	if ok, err := s.HasGrant(c, u.ID, "example.test"); err != nil || ok {
		t.Errorf("grant before any: %v, %v (default deny)", ok, err)
	}
	gs, err := s.Grants(c, u.ID)
	noErr(t, "grants", err)
	if len(gs) != 0 {
		t.Errorf("grants before any: %q", gs)
	}
	noErr(t, "grant", s.Grant(c, u.ID, "example.test"))
	noErr(t, "grant again", s.Grant(c, u.ID, "example.test"))
	noErr(t, "grant b", s.Grant(c, u.ID, "b.test"))
	gs, err = s.Grants(c, u.ID)
	noErr(t, "grants", err)
	wantStrings(t, "grants", gs, []string{"b.test", "example.test"})
	if ok, err := s.HasGrant(c, u.ID, "example.test"); err != nil || !ok {
		t.Errorf("HasGrant after grant: %v, %v", ok, err)
	}
	if ok, err := s.HasGrant(c, v.ID, "example.test"); err != nil || ok {
		t.Errorf("grant leaked to another user: %v, %v", ok, err)
	}

	wantErr(t, "grant unknown apex", s.Grant(c, u.ID, "nowhere.test"), store.ErrNotFound)
	wantErr(t, "grant to unknown user", s.Grant(c, u.ID+v.ID+100, "example.test"), store.ErrNotFound)
	if ok, _ := s.HasGrant(c, u.ID, "nowhere.test"); ok {
		t.Error("refused grant was stored")
	}

	noErr(t, "ungrant", s.Ungrant(c, u.ID, "example.test"))
	noErr(t, "ungrant again", s.Ungrant(c, u.ID, "example.test"))
	gs, err = s.Grants(c, u.ID)
	noErr(t, "grants", err)
	wantStrings(t, "grants after ungrant", gs, []string{"b.test"})
}

func testDomains(t *testing.T, open opener) {
	s := open(t)
	c := ctx(t)
	d := store.Domain{Apex: "example.test", DKIMSelector: "sel1", DKIMKeyPEM: "-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----\n"}
	noErr(t, "create", s.CreateDomain(c, &d))
	wantRecent(t, "domain created", d.CreatedAt)
	got, err := s.DomainByApex(c, "example.test")
	noErr(t, "by apex", err)
	if got != d {
		t.Errorf("DomainByApex = %+v, want %+v", got, d)
	}
	dup := store.Domain{Apex: "example.test", DKIMSelector: "sel2"}
	wantErr(t, "duplicate", s.CreateDomain(c, &dup), store.ErrExists)
	if got, _ := s.DomainByApex(c, "example.test"); got.DKIMSelector != "sel1" {
		t.Errorf("duplicate create changed the domain: %+v", got)
	}
	wantInvalid(t, "empty apex", s.CreateDomain(c, &store.Domain{}))
	_, err = s.DomainByApex(c, "nowhere.test")
	wantErr(t, "unknown apex", err, store.ErrNotFound)

	mustDomain(t, s, "a.test")
	mustDomain(t, s, "z.test")
	ds, err := s.ListDomains(c)
	noErr(t, "list", err)
	var apexes []string
	for _, d := range ds {
		apexes = append(apexes, d.Apex)
	}
	wantStrings(t, "ListDomains order", apexes, []string{"a.test", "example.test", "z.test"})
}
