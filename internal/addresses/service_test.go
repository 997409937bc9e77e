package addresses

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/cabalmail/cabalmail/internal/store"
	"github.com/cabalmail/cabalmail/internal/store/sqlite"
)

// fixture is a service over a real SQLite store with three apexes (two of
// them nested), control domain mail.example.test, and users alice and bob
// (plain) and carol (admin).
type fixture struct {
	ctx   context.Context
	st    *sqlite.Store
	svc   *Service
	users map[string]store.User
}

func newFixture(t *testing.T, opts Options) *fixture {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, t.TempDir()+"/meta.db")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	for _, apex := range []string{"example.test", "mail.example.test", "other.test"} {
		if err := st.CreateDomain(ctx, &store.Domain{Apex: apex}); err != nil {
			t.Fatal(err)
		}
	}
	f := &fixture{ctx: ctx, st: st, users: map[string]store.User{}}
	for _, u := range []store.User{{Name: "alice"}, {Name: "bob"}, {Name: "carol", Admin: true}} {
		if err := st.CreateUser(ctx, &u); err != nil {
			t.Fatal(err)
		}
		f.users[u.Name] = u
	}
	if opts.ControlDomain == "" {
		opts.ControlDomain = "mail.example.test"
	}
	f.svc = New(st, opts)
	return f
}

func (f *fixture) actor(name string) Actor {
	u := f.users[name]
	return Actor{UserID: u.ID, Name: u.Name, Admin: u.Admin}
}

// snapshot is everything a refused request must leave untouched.
func (f *fixture) snapshot(t *testing.T) string {
	t.Helper()
	list, err := f.st.ListAddresses(f.ctx, store.AddressFilter{})
	if err != nil {
		t.Fatal(err)
	}
	audit, err := f.st.ListAudit(f.ctx, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, a := range list {
		b.WriteString(a.Address + " " + string(a.State) + " " + a.ChangedAt.String())
		for _, h := range a.Holders {
			b.WriteString(" " + h.UserName + "/" + h.Comment)
			if h.Favorite {
				b.WriteString("*")
			}
		}
		b.WriteString("\n")
	}
	for _, g := range []string{"alice", "bob", "carol"} {
		gs, err := f.st.Grants(f.ctx, f.users[g].ID)
		if err != nil {
			t.Fatal(err)
		}
		b.WriteString(g + " grants " + strings.Join(gs, ",") + "\n")
	}
	b.WriteString(strings.Repeat("audit\n", len(audit)))
	return b.String()
}

func (f *fixture) create(t *testing.T, a Actor, addr string, users ...string) store.Address {
	t.Helper()
	row, err := f.svc.Create(f.ctx, a, CreateRequest{Address: addr, Users: users})
	if err != nil {
		t.Fatalf("Create(%s): %v", addr, err)
	}
	return row
}

func (f *fixture) lastAudit(t *testing.T) store.AuditEntry {
	t.Helper()
	list, err := f.st.ListAudit(f.ctx, 1)
	if err != nil || len(list) == 0 {
		t.Fatalf("ListAudit = %v, %v", list, err)
	}
	return list[0]
}

func TestCreateByOperator(t *testing.T) {
	f := newFixture(t, Options{})
	row, err := f.svc.Create(f.ctx, Operator(), CreateRequest{Address: "Shop@X1.Example.TEST", Users: []string{"alice", "bob", "alice"}, Comment: "the shop"})
	if err != nil {
		t.Fatal(err)
	}
	if row.Address != "shop@x1.example.test" || row.Local != "shop" || row.Subdomain != "x1" || row.Apex != "example.test" || row.State != store.AddressActive {
		t.Errorf("created %+v", row)
	}
	got, err := f.st.AddressByName(f.ctx, "shop@x1.example.test")
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Holders) != 2 || got.Holders[0].Comment != "the shop" || got.Holders[1].Comment != "the shop" {
		t.Errorf("holders %+v, want alice and bob once each with the comment", got.Holders)
	}
	e := f.lastAudit(t)
	if e.Actor != "operator" || e.Action != "address.create" || e.Target != "shop@x1.example.test" {
		t.Errorf("audit entry %+v", e)
	}
	// Nested apexes: the apex that leaves one label is chosen.
	row = f.create(t, Operator(), "x@a.mail.example.test", "bob")
	if row.Apex != "mail.example.test" || row.Subdomain != "a" {
		t.Errorf("nested apex split as %+v", row)
	}
}

func TestCreateRefused(t *testing.T) {
	f := newFixture(t, Options{})
	f.create(t, Operator(), "taken@x1.example.test", "alice")
	alice := f.actor("alice")
	tests := []struct {
		name  string
		actor Actor
		req   CreateRequest
		kind  error
		msg   string // exact message, or a fragment when it starts with "~"
	}{
		{"whitespace", Operator(), CreateRequest{Address: "x y@a.example.test", Users: []string{"alice"}},
			ErrInvalid, `addresses: "x y@a.example.test": local part contains whitespace`},
		{"leading space", Operator(), CreateRequest{Address: " x@a.example.test", Users: []string{"alice"}},
			ErrInvalid, "~leading or trailing whitespace"},
		{"apex address", Operator(), CreateRequest{Address: "x@example.test", Users: []string{"alice"}},
			ErrInvalid, "~on the apex \"example.test\" itself"},
		{"two labels", Operator(), CreateRequest{Address: "x@a.b.other.test", Users: []string{"alice"}},
			ErrInvalid, "~exactly one subdomain label"},
		{"unknown apex", Operator(), CreateRequest{Address: "x@a.nope.test", Users: []string{"alice"}},
			ErrUnknownApex, `addresses: apex "nope.test" is not configured (add it with "cabalmail domain add")`},
		{"reserved on control", Operator(), CreateRequest{Address: "x@admin.mail.example.test", Users: []string{"alice"}},
			ErrReserved, `addresses: "admin" is a reserved label on mail.example.test`},
		{"reserved everywhere", Operator(), CreateRequest{Address: "x@mail-admin.other.test", Users: []string{"alice"}},
			ErrReserved, `addresses: "mail-admin" is a reserved label on other.test`},
		{"reserved autodiscover", Operator(), CreateRequest{Address: "x@Autodiscover.example.test", Users: []string{"alice"}},
			ErrReserved, `addresses: "autodiscover" is a reserved label on example.test`},
		{"exists", Operator(), CreateRequest{Address: "TAKEN@x1.example.test", Users: []string{"bob"}},
			ErrExists, `addresses: "taken@x1.example.test" already exists`},
		{"operator names nobody", Operator(), CreateRequest{Address: "x@a.example.test"},
			ErrInvalid, "~name at least one user"},
		{"unknown user", Operator(), CreateRequest{Address: "x@a.example.test", Users: []string{"alice", "zed"}},
			ErrUnknownUser, `addresses: user "zed" does not exist`},
		{"both forms", Operator(), CreateRequest{Address: "x@a.example.test", Random: true, Apex: "example.test", Users: []string{"alice"}},
			ErrInvalid, "~not both"},
		{"random without apex", Operator(), CreateRequest{Random: true, Users: []string{"alice"}},
			ErrInvalid, "~needs an apex"},
		{"random unknown apex", Operator(), CreateRequest{Random: true, Apex: "nope.test", Users: []string{"alice"}},
			ErrUnknownApex, `~apex "nope.test" is not configured`},
		{"empty", Operator(), CreateRequest{Users: []string{"alice"}},
			ErrInvalid, "addresses: address is empty"},
		{"apex mismatch", Operator(), CreateRequest{Address: "x@a.example.test", Apex: "other.test", Users: []string{"alice"}},
			ErrInvalid, `~is not on apex "other.test"`},
		{"comment with newline", Operator(), CreateRequest{Address: "x@a.example.test", Users: []string{"alice"}, Comment: "a\nb"},
			ErrInvalid, "~control characters or line breaks"},
		{"comment too long", Operator(), CreateRequest{Address: "x@a.example.test", Users: []string{"alice"}, Comment: strings.Repeat("c", 1025)},
			ErrInvalid, "~at most 1024"},
		{"not granted", alice, CreateRequest{Address: "x@a.example.test"},
			ErrNotGranted, "~user \"alice\" may not create addresses on example.test"},
		{"plain user for someone else", alice, CreateRequest{Address: "x@a.example.test", Users: []string{"bob"}},
			ErrForbidden, "~may create only addresses they hold"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := f.snapshot(t)
			_, err := f.svc.Create(f.ctx, tt.actor, tt.req)
			if !errors.Is(err, tt.kind) {
				t.Fatalf("err = %v, want %v", err, tt.kind)
			}
			if frag, ok := strings.CutPrefix(tt.msg, "~"); ok {
				if !strings.Contains(err.Error(), frag) {
					t.Errorf("err = %q, want it to contain %q", err, frag)
				}
			} else if err.Error() != tt.msg {
				t.Errorf("err = %q, want %q", err, tt.msg)
			}
			if after := f.snapshot(t); after != before {
				t.Errorf("refused request changed the store:\n%s\nbecame\n%s", before, after)
			}
		})
	}
}

func TestReservedParentOfControl(t *testing.T) {
	// With control domain mx.example.test (not itself an apex), "mx" can
	// never be a subdomain of example.test.
	f := newFixture(t, Options{ControlDomain: "mx.example.test"})
	_, err := f.svc.Create(f.ctx, Operator(), CreateRequest{Address: "x@mx.example.test", Users: []string{"alice"}})
	if !errors.Is(err, ErrReserved) {
		t.Fatalf("err = %v, want ErrReserved", err)
	}
	f.create(t, Operator(), "x@mx.other.test", "alice")
}

func TestGrants(t *testing.T) {
	f := newFixture(t, Options{})
	alice, carol := f.actor("alice"), f.actor("carol")

	if err := f.svc.Grant(f.ctx, alice, "alice", "example.test"); !errors.Is(err, ErrForbidden) {
		t.Fatalf("plain user granting: %v, want ErrForbidden", err)
	}
	if err := f.svc.Grant(f.ctx, Operator(), "zed", "example.test"); !errors.Is(err, ErrUnknownUser) {
		t.Fatalf("grant to unknown user: %v", err)
	}
	if err := f.svc.Grant(f.ctx, Operator(), "alice", "nope.test"); !errors.Is(err, ErrUnknownApex) {
		t.Fatalf("grant of unknown apex: %v", err)
	}
	if err := f.svc.Grant(f.ctx, Operator(), "alice", "Example.Test"); err != nil {
		t.Fatal(err)
	}
	if e := f.lastAudit(t); e.Actor != "operator" || e.Action != "user.grant" || e.Target != "alice" || e.Detail != "example.test" {
		t.Errorf("audit entry %+v", e)
	}
	n, _ := f.st.ListAudit(f.ctx, 1000)
	if err := f.svc.Grant(f.ctx, Operator(), "alice", "example.test"); err != nil {
		t.Fatalf("granting twice: %v", err)
	}
	if again, _ := f.st.ListAudit(f.ctx, 1000); len(again) != len(n) {
		t.Error("a grant that changed nothing was audited")
	}

	// Alice may now create on example.test, for herself, without an audit
	// entry; still not on other.test.
	before, _ := f.st.ListAudit(f.ctx, 1000)
	row, err := f.svc.Create(f.ctx, alice, CreateRequest{Address: "mine@a1.example.test", Comment: "hers"})
	if err != nil {
		t.Fatal(err)
	}
	if len(row.Holders) != 1 || row.Holders[0].UserID != alice.UserID {
		t.Errorf("holders %+v, want alice alone", row.Holders)
	}
	if after, _ := f.st.ListAudit(f.ctx, 1000); len(after) != len(before) {
		t.Errorf("a user's own change was audited")
	}
	if _, err := f.svc.Create(f.ctx, alice, CreateRequest{Address: "mine@a1.other.test"}); !errors.Is(err, ErrNotGranted) {
		t.Errorf("create on ungranted apex: %v", err)
	}
	// Sharing at creation with someone else is fine when she holds it too.
	if _, err := f.svc.Create(f.ctx, alice, CreateRequest{Address: "ours@a1.example.test", Users: []string{"bob", "alice"}}); err != nil {
		t.Errorf("create shared: %v", err)
	}
	// Admins need no grant.
	if _, err := f.svc.Create(f.ctx, carol, CreateRequest{Address: "adm@c1.other.test"}); err != nil {
		t.Errorf("admin create: %v", err)
	}
	if e := f.lastAudit(t); e.Actor != "carol" || e.Action != "address.create" {
		t.Errorf("admin create audit entry %+v", e)
	}

	if err := f.svc.Ungrant(f.ctx, carol, "alice", "example.test"); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.Ungrant(f.ctx, carol, "alice", "example.test"); !errors.Is(err, ErrNotGranted) {
		t.Errorf("ungranting twice: %v, want ErrNotGranted", err)
	}
	if _, err := f.svc.Create(f.ctx, alice, CreateRequest{Address: "more@a1.example.test"}); !errors.Is(err, ErrNotGranted) {
		t.Errorf("create after ungrant: %v", err)
	}
	if _, err := f.st.AddressByName(f.ctx, "mine@a1.example.test"); err != nil {
		t.Errorf("ungrant removed an existing address: %v", err)
	}
}

// scriptReader returns its script, then zero bytes for ever.
type scriptReader struct{ script []byte }

func (r *scriptReader) Read(p []byte) (int, error) {
	n := copy(p, r.script)
	r.script = r.script[n:]
	clear(p[n:])
	return len(p), nil
}

// Each random draw reads 12 bytes (1 + 3 + 8); a draw of all-k bytes gives
// symbol k of each alphabet.
func draw(k byte) []byte { return []byte(strings.Repeat(string(rune(k)), 12)) }

func TestCreateRandom(t *testing.T) {
	f := newFixture(t, Options{})
	re := regexp.MustCompile(`^[bcdfghjkmnpqrstvwxz2-9]{8}@[a-km-np-z][a-km-np-z2-9]{3}\.example\.test$`)
	for range 20 {
		row, err := f.svc.Create(f.ctx, Operator(), CreateRequest{Random: true, Apex: "Example.Test", Users: []string{"bob"}, Comment: "random"})
		if err != nil {
			t.Fatal(err)
		}
		if !re.MatchString(row.Address) {
			t.Fatalf("random address %q has the wrong shape", row.Address)
		}
		if row.Holders[0].Comment != "random" {
			t.Errorf("comment lost: %+v", row.Holders)
		}
	}
}

func TestCreateRandomCollisions(t *testing.T) {
	r := &scriptReader{}
	f := newFixture(t, Options{Rand: r})
	random := CreateRequest{Random: true, Apex: "example.test", Users: []string{"alice"}}

	r.script = draw(0)
	row, err := f.svc.Create(f.ctx, Operator(), random)
	if err != nil || row.Address != "bbbbbbbb@aaaa.example.test" {
		t.Fatalf("first draw = %q, %v", row.Address, err)
	}
	// The same draw again collides; the next one is used.
	r.script = append(draw(0), draw(1)...)
	row, err = f.svc.Create(f.ctx, Operator(), random)
	if err != nil || row.Address != "cccccccc@bbbb.example.test" {
		t.Fatalf("draw after a collision = %q, %v", row.Address, err)
	}
	// A source that only ever repeats a taken name gives up.
	before := f.snapshot(t)
	_, err = f.svc.Create(f.ctx, Operator(), random)
	if !errors.Is(err, ErrExists) || !strings.Contains(err.Error(), "after 20 tries") {
		t.Fatalf("exhausted draws: %v", err)
	}
	if f.snapshot(t) != before {
		t.Error("failed random creation changed the store")
	}
}

func TestCreateRandomSkipsReserved(t *testing.T) {
	// With control domain aaaa.example.test, "aaaa" is reserved on
	// example.test: the all-zero draw must be skipped.
	r := &scriptReader{script: append(draw(0), draw(1)...)}
	f := newFixture(t, Options{Rand: r, ControlDomain: "aaaa.example.test"})
	row, err := f.svc.Create(f.ctx, Operator(), CreateRequest{Random: true, Apex: "example.test", Users: []string{"alice"}})
	if err != nil || row.Address != "cccccccc@bbbb.example.test" {
		t.Fatalf("got %q, %v; want the reserved draw skipped", row.Address, err)
	}
}

func TestListAndVisibility(t *testing.T) {
	f := newFixture(t, Options{})
	alice, bob := f.actor("alice"), f.actor("bob")
	f.create(t, Operator(), "a1@x.example.test", "alice")
	f.create(t, Operator(), "b1@y.other.test", "bob")
	f.create(t, Operator(), "s1@z.example.test", "alice", "bob")

	names := func(list []store.Address) string {
		var s []string
		for _, a := range list {
			s = append(s, a.Address)
		}
		return strings.Join(s, " ")
	}
	tests := []struct {
		actor Actor
		f     store.AddressFilter
		want  string
	}{
		{Operator(), store.AddressFilter{}, "a1@x.example.test b1@y.other.test s1@z.example.test"},
		{Operator(), store.AddressFilter{UserID: bob.UserID}, "b1@y.other.test s1@z.example.test"},
		{Operator(), store.AddressFilter{Apex: "EXAMPLE.test"}, "a1@x.example.test s1@z.example.test"},
		{f.actor("carol"), store.AddressFilter{}, "a1@x.example.test b1@y.other.test s1@z.example.test"},
		{alice, store.AddressFilter{}, "a1@x.example.test s1@z.example.test"},
		{alice, store.AddressFilter{UserID: bob.UserID}, "a1@x.example.test s1@z.example.test"},
		{bob, store.AddressFilter{Apex: "other.test"}, "b1@y.other.test"},
	}
	for _, tt := range tests {
		list, err := f.svc.List(f.ctx, tt.actor, tt.f)
		if err != nil {
			t.Fatal(err)
		}
		if got := names(list); got != tt.want {
			t.Errorf("List(%s, %+v) = %q, want %q", tt.actor.Name, tt.f, got, tt.want)
		}
	}
	if _, err := f.svc.List(f.ctx, Actor{Name: "nobody"}, store.AddressFilter{}); !errors.Is(err, ErrForbidden) {
		t.Errorf("List by an actor without a user: %v", err)
	}

	// Someone else's address looks exactly like a missing one, for every
	// action, and nothing changes.
	before := f.snapshot(t)
	_, errOther := f.svc.Get(f.ctx, alice, "b1@y.other.test")
	_, errMissing := f.svc.Get(f.ctx, alice, "b2@y.other.test")
	if !errors.Is(errOther, ErrNotFound) || !errors.Is(errMissing, ErrNotFound) ||
		strings.Replace(errOther.Error(), "b1@", "b2@", 1) != errMissing.Error() {
		t.Errorf("Get of another's address = %v; of a missing one = %v", errOther, errMissing)
	}
	for name, act := range map[string]func() error{
		"revoke":    func() error { return f.svc.Revoke(f.ctx, alice, "b1@y.other.test") },
		"suspend":   func() error { return f.svc.Suspend(f.ctx, alice, "b1@y.other.test") },
		"reinstate": func() error { return f.svc.Reinstate(f.ctx, alice, "b1@y.other.test") },
		"comment":   func() error { return f.svc.SetComment(f.ctx, alice, "b1@y.other.test", "mine now") },
		"favorite":  func() error { return f.svc.SetFavorite(f.ctx, alice, "b1@y.other.test", true) },
		"share":     func() error { return f.svc.AddHolder(f.ctx, alice, "b1@y.other.test", "alice") },
	} {
		if err := act(); !errors.Is(err, ErrNotFound) {
			t.Errorf("%s of another's address: %v, want ErrNotFound", name, err)
		}
	}
	if f.snapshot(t) != before {
		t.Error("actions on another's address changed the store")
	}
	// Her own, and any for an admin, are visible.
	if got, err := f.svc.Get(f.ctx, alice, "S1@Z.example.test"); err != nil || got.Address != "s1@z.example.test" || len(got.Holders) != 2 {
		t.Errorf("Get own = %+v, %v", got, err)
	}
	if _, err := f.svc.Get(f.ctx, f.actor("carol"), "b1@y.other.test"); err != nil {
		t.Errorf("admin Get: %v", err)
	}
	if _, err := f.svc.Get(f.ctx, alice, "not an address"); !errors.Is(err, ErrInvalid) {
		t.Errorf("Get malformed: %v", err)
	}
}

func TestSuspendReinstate(t *testing.T) {
	f := newFixture(t, Options{})
	f.create(t, Operator(), "s@x.example.test", "alice")
	audits := func() int {
		l, err := f.st.ListAudit(f.ctx, 1000)
		if err != nil {
			t.Fatal(err)
		}
		return len(l)
	}
	verdict := func() Verdict {
		v, _, err := f.svc.Recipient(f.ctx, "s@x.example.test")
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	n := audits()
	if err := f.svc.Suspend(f.ctx, Operator(), "S@x.example.test"); err != nil {
		t.Fatal(err)
	}
	if v := verdict(); v != Suspended {
		t.Errorf("after suspend: %v", v)
	}
	if e := f.lastAudit(t); e.Action != "address.suspend" || e.Target != "s@x.example.test" || e.Actor != "operator" || audits() != n+1 {
		t.Errorf("audit %+v (%d entries)", e, audits())
	}
	if err := f.svc.Suspend(f.ctx, Operator(), "s@x.example.test"); err != nil || audits() != n+1 {
		t.Errorf("suspending twice: %v, %d audit entries", err, audits())
	}
	if err := f.svc.Reinstate(f.ctx, f.actor("carol"), "s@x.example.test"); err != nil {
		t.Fatal(err)
	}
	if v := verdict(); v != Deliver {
		t.Errorf("after reinstate: %v", v)
	}
	if e := f.lastAudit(t); e.Action != "address.reinstate" || e.Actor != "carol" {
		t.Errorf("audit %+v", e)
	}
	// A holder may suspend their own address; that is not audited.
	n = audits()
	if err := f.svc.Suspend(f.ctx, f.actor("alice"), "s@x.example.test"); err != nil {
		t.Fatal(err)
	}
	if v := verdict(); v != Suspended || audits() != n {
		t.Errorf("holder suspend: %v, %d audit entries (want %d)", v, audits(), n)
	}
	if err := f.svc.Suspend(f.ctx, Operator(), "gone@x.example.test"); !errors.Is(err, ErrNotFound) {
		t.Errorf("suspend of a missing address: %v", err)
	}
}

func TestRevoke(t *testing.T) {
	f := newFixture(t, Options{})
	alice, bob := f.actor("alice"), f.actor("bob")
	f.create(t, Operator(), "s1@z.example.test", "alice", "bob")
	f.create(t, Operator(), "s2@z.example.test", "alice", "bob")
	f.create(t, Operator(), "a1@x.example.test", "alice")
	n, _ := f.st.ListAudit(f.ctx, 1000)

	// A holder leaving a shared address drops only their hold.
	if err := f.svc.Revoke(f.ctx, alice, "s1@z.example.test"); err != nil {
		t.Fatal(err)
	}
	row, err := f.st.AddressByName(f.ctx, "s1@z.example.test")
	if err != nil || len(row.Holders) != 1 || row.Holders[0].UserID != bob.UserID {
		t.Fatalf("after alice left: %+v, %v", row, err)
	}
	if _, err := f.svc.Get(f.ctx, alice, "s1@z.example.test"); !errors.Is(err, ErrNotFound) {
		t.Errorf("alice still sees the address she left: %v", err)
	}
	if v, _, _ := f.svc.Recipient(f.ctx, "s1@z.example.test"); v != Deliver {
		t.Errorf("shared address stopped delivering: %v", v)
	}
	// The last holder leaving revokes it.
	if err := f.svc.Revoke(f.ctx, bob, "s1@z.example.test"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.st.AddressByName(f.ctx, "s1@z.example.test"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("address left by its last holder still exists: %v", err)
	}
	if v, _, _ := f.svc.Recipient(f.ctx, "s1@z.example.test"); v != Unknown {
		t.Errorf("revoked address: %v", v)
	}
	if after, _ := f.st.ListAudit(f.ctx, 1000); len(after) != len(n) {
		t.Error("users' own revocations were audited")
	}
	// An admin's revoke removes a shared address outright.
	if err := f.svc.Revoke(f.ctx, f.actor("carol"), "s2@z.example.test"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.st.AddressByName(f.ctx, "s2@z.example.test"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("admin revoke left the address: %v", err)
	}
	if err := f.svc.Revoke(f.ctx, Operator(), "A1@X.example.test"); err != nil {
		t.Fatal(err)
	}
	if e := f.lastAudit(t); e.Action != "address.revoke" || e.Target != "a1@x.example.test" || e.Actor != "operator" {
		t.Errorf("audit %+v", e)
	}
	if err := f.svc.Revoke(f.ctx, Operator(), "a1@x.example.test"); !errors.Is(err, ErrNotFound) {
		t.Errorf("revoking twice: %v", err)
	}
	// The name is free again.
	f.create(t, Operator(), "a1@x.example.test", "bob")
}

func TestCommentFavoriteShare(t *testing.T) {
	f := newFixture(t, Options{})
	alice, bob := f.actor("alice"), f.actor("bob")
	f.create(t, Operator(), "a1@x.example.test", "alice")

	if err := f.svc.SetComment(f.ctx, alice, "a1@x.example.test", "dentist"); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.SetFavorite(f.ctx, alice, "a1@x.example.test", true); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.AddHolder(f.ctx, alice, "a1@x.example.test", "bob"); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.SetComment(f.ctx, bob, "a1@x.example.test", "alice's dentist"); err != nil {
		t.Fatal(err)
	}
	row, err := f.st.AddressByName(f.ctx, "a1@x.example.test")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]store.Holding{
		"alice": {Comment: "dentist", Favorite: true},
		"bob":   {Comment: "alice's dentist"},
	}
	if len(row.Holders) != 2 {
		t.Fatalf("holders %+v", row.Holders)
	}
	for _, h := range row.Holders {
		if w := want[h.UserName]; h.Comment != w.Comment || h.Favorite != w.Favorite {
			t.Errorf("holding of %s = %q/%v, want %q/%v", h.UserName, h.Comment, h.Favorite, w.Comment, w.Favorite)
		}
	}
	if err := f.svc.AddHolder(f.ctx, bob, "a1@x.example.test", "alice"); !errors.Is(err, ErrExists) {
		t.Errorf("sharing with an existing holder: %v", err)
	}
	if err := f.svc.AddHolder(f.ctx, Operator(), "a1@x.example.test", "zed"); !errors.Is(err, ErrUnknownUser) {
		t.Errorf("sharing with an unknown user: %v", err)
	}
	if err := f.svc.AddHolder(f.ctx, Operator(), "a1@x.example.test", "carol"); err != nil {
		t.Fatal(err)
	}
	if e := f.lastAudit(t); e.Action != "address.share" || e.Detail != "with carol" {
		t.Errorf("audit %+v", e)
	}

	f.create(t, Operator(), "b1@x.example.test", "bob")
	before := f.snapshot(t)
	if err := f.svc.SetComment(f.ctx, Operator(), "a1@x.example.test", "x"); !errors.Is(err, ErrForbidden) {
		t.Errorf("operator comment: %v, want ErrForbidden", err)
	}
	if err := f.svc.SetFavorite(f.ctx, f.actor("carol"), "b1@x.example.test", true); !errors.Is(err, ErrForbidden) {
		t.Errorf("admin favorite on an address she does not hold: %v, want ErrForbidden", err)
	}
	if err := f.svc.SetComment(f.ctx, alice, "a1@x.example.test", "two\nlines"); !errors.Is(err, ErrInvalid) {
		t.Errorf("bad comment: %v", err)
	}
	if f.snapshot(t) != before {
		t.Error("refused changes changed the store")
	}
}

func TestRecipient(t *testing.T) {
	f := newFixture(t, Options{})
	f.create(t, Operator(), "on@x.example.test", "alice", "bob")
	f.create(t, Operator(), "off@x.example.test", "alice")
	if err := f.svc.Suspend(f.ctx, Operator(), "off@x.example.test"); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		addr    string
		want    Verdict
		holders int
	}{
		{"on@x.example.test", Deliver, 2},
		{"ON@X.EXAMPLE.TEST", Deliver, 2},
		{"off@x.example.test", Suspended, 1},
		{"never@x.example.test", Unknown, 0},
		{"on@y.example.test", Unknown, 0},
		{"on@example.test", Unknown, 0},
		{"postmaster@x.nope.test", Unknown, 0},
		{"bad address@x.example.test", Unknown, 0},
		{"", Unknown, 0},
	}
	for _, tt := range tests {
		v, row, err := f.svc.Recipient(f.ctx, tt.addr)
		if err != nil || v != tt.want || len(row.Holders) != tt.holders {
			t.Errorf("Recipient(%q) = %v, %d holders, %v; want %v, %d holders", tt.addr, v, len(row.Holders), err, tt.want, tt.holders)
		}
	}
	// A store that cannot answer is an error (a temporary failure), never
	// a verdict.
	f.st.Close()
	if v, _, err := f.svc.Recipient(f.ctx, "on@x.example.test"); err == nil {
		t.Errorf("Recipient on a closed store = %v, nil error", v)
	}
}

func TestVerdictString(t *testing.T) {
	for v, want := range map[Verdict]string{Deliver: "deliver", Suspended: "suspended", Unknown: "unknown"} {
		if v.String() != want {
			t.Errorf("%d.String() = %q", v, v.String())
		}
	}
}

func TestServiceParse(t *testing.T) {
	f := newFixture(t, Options{})
	p, err := f.svc.Parse(f.ctx, "Shop@X1.example.test")
	if err != nil || p != (Parsed{"shop", "x1", "example.test"}) {
		t.Errorf("Parse = %+v, %v", p, err)
	}
	if _, err := f.svc.Parse(f.ctx, "x@a.nope.test"); !errors.Is(err, ErrUnknownApex) {
		t.Errorf("Parse unknown apex: %v", err)
	}
}

// TestRecipientNewApex checks that the apex list Recipient caches never
// hides an apex added since it was read.
func TestRecipientNewApex(t *testing.T) {
	f := newFixture(t, Options{})
	if v, _, err := f.svc.Recipient(f.ctx, "a@x.new.test"); err != nil || v != Unknown {
		t.Fatalf("before the apex exists: %v, %v", v, err)
	}
	if err := f.st.CreateDomain(f.ctx, &store.Domain{Apex: "new.test"}); err != nil {
		t.Fatal(err)
	}
	f.create(t, Operator(), "a@x.new.test", "alice")
	if v, row, err := f.svc.Recipient(f.ctx, "a@x.new.test"); err != nil || v != Deliver || len(row.Holders) != 1 {
		t.Errorf("right after the apex is added: %v, %d holders, %v; want deliver", v, len(row.Holders), err)
	}
}
