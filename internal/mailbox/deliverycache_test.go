package mailbox

import (
	"errors"
	"strings"
	"testing"

	"github.com/cabalmail/cabalmail/internal/store"
)

// TestDeliveryCacheUserDeleted checks that a cached INBOX of a user
// deleted meanwhile does not take a delivery: the commit refuses it, the
// body is removed and the cache forgets the user.
func TestDeliveryCacheUserDeleted(t *testing.T) {
	e := newEnv(t, nil)
	ctx := testCtx(t)
	alice, bob := e.user(t, "alice"), e.user(t, "bob")
	for range 2 {
		ds, err := e.s.Deliver(ctx, []int64{alice}, strings.NewReader(msg("hi", "body")), DeliverOptions{})
		if err != nil || ds[0].Err != nil {
			t.Fatalf("deliver: %v %+v", err, ds)
		}
	}
	if e.s.cachedInbox(alice) == 0 {
		t.Fatal("INBOX ID not cached after a delivery")
	}
	before := e.blobCount(t)
	if _, err := e.db.DeleteUser(ctx, alice); err != nil {
		t.Fatal(err)
	}
	ds, err := e.s.Deliver(ctx, []int64{alice, bob}, strings.NewReader(msg("late", "body")), DeliverOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(ds[0].Err, ErrNoMailbox) && !errors.Is(ds[0].Err, store.ErrNotFound) {
		t.Errorf("delivery to a deleted user: %+v", ds[0])
	}
	if ds[1].Err != nil || ds[1].UID != 1 {
		t.Errorf("bob: %+v", ds[1])
	}
	if e.s.cachedInbox(alice) != 0 {
		t.Error("the deleted user's INBOX is still cached")
	}
	// Alice's two bodies go with her (garbage, swept later); bob's is new.
	if n := e.blobCount(t); n != before+1 {
		t.Errorf("%d blobs, want %d: the refused copy must not add one", n, before+1)
	}

	// Refused for every user: the body is removed at once.
	ds, err = e.s.Deliver(ctx, []int64{alice}, strings.NewReader(msg("again", "body")), DeliverOptions{})
	if err != nil || ds[0].Err == nil {
		t.Fatalf("delivery to a deleted user: %v %+v", err, ds)
	}
	if n := e.blobCount(t); n != before+1 {
		t.Errorf("%d blobs after a refused delivery, want %d", n, before+1)
	}
}

// TestDeliverQuotaInCommit checks that, with no early check, the quota is
// still enforced, by the commit, message by message.
func TestDeliverQuotaInCommit(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.DefaultQuota = 3000 })
	ctx := testCtx(t)
	alice := e.user(t, "alice")
	body := msg("big", strings.Repeat("x", 1000))
	stored, full := 0, 0
	for range 5 {
		ds, err := e.s.Deliver(ctx, []int64{alice}, strings.NewReader(body), DeliverOptions{})
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case ds[0].Err == nil:
			stored++
		case errors.Is(ds[0].Err, ErrOverQuota):
			full++
		default:
			t.Fatalf("deliver: %v", ds[0].Err)
		}
	}
	if stored != 2 || full != 3 {
		t.Errorf("stored %d, refused %d; want 2 and 3 with a 3000-byte quota", stored, full)
	}
	if n := e.blobCount(t); n != 2 {
		t.Errorf("%d bodies, want 2", n)
	}
	if err := e.s.CheckQuota(ctx, alice, 1000); !errors.Is(err, ErrOverQuota) {
		t.Errorf("CheckQuota: %v, want ErrOverQuota", err)
	}
}
