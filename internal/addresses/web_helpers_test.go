package addresses

import (
	"errors"
	"testing"
)

func TestRemoveHolder(t *testing.T) {
	f := newFixture(t, Options{})
	op := Operator()
	if _, err := f.svc.Create(f.ctx, op, CreateRequest{Address: "shop@x1.example.test", Users: []string{"alice", "bob"}}); err != nil {
		t.Fatal(err)
	}
	before := f.snapshot(t)
	for _, tc := range []struct {
		name  string
		actor Actor
		addr  string
		user  string
		want  error
	}{
		{"plain user", f.actor("alice"), "shop@x1.example.test", "bob", ErrForbidden},
		{"unknown address", f.actor("carol"), "nope@x1.example.test", "bob", ErrNotFound},
		{"unknown user", f.actor("carol"), "shop@x1.example.test", "zed", ErrUnknownUser},
		{"not a holder", f.actor("carol"), "shop@x1.example.test", "carol", ErrNotFound},
		{"bad address", f.actor("carol"), "shop", "bob", ErrInvalid},
	} {
		_, err := f.svc.RemoveHolder(f.ctx, tc.actor, tc.addr, tc.user)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, err, tc.want)
		}
	}
	if after := f.snapshot(t); after != before {
		t.Fatalf("refused requests changed the store:\n%s\nwant\n%s", after, before)
	}

	revoked, err := f.svc.RemoveHolder(f.ctx, f.actor("carol"), "shop@x1.example.test", "bob")
	if err != nil || revoked {
		t.Fatalf("remove bob: revoked %v, err %v; want kept, nil", revoked, err)
	}
	row, err := f.svc.Get(f.ctx, op, "shop@x1.example.test")
	if err != nil || len(row.Holders) != 1 || row.Holders[0].UserName != "alice" {
		t.Fatalf("after removing bob: %+v, %v; want alice alone", row.Holders, err)
	}
	revoked, err = f.svc.RemoveHolder(f.ctx, op, "shop@x1.example.test", "alice")
	if err != nil || !revoked {
		t.Fatalf("remove last holder: revoked %v, err %v; want revoked", revoked, err)
	}
	if _, err := f.svc.Get(f.ctx, op, "shop@x1.example.test"); !errors.Is(err, ErrNotFound) {
		t.Errorf("address still there after its last holder left: %v", err)
	}
	audit, _ := f.st.ListAudit(f.ctx, 10)
	if len(audit) < 2 || audit[0].Action != "address.unshare" || audit[0].Actor != "operator" || audit[1].Actor != "carol" {
		t.Errorf("audit = %+v, want two address.unshare entries by operator then carol", audit)
	}
}
