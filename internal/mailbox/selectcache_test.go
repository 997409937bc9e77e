package mailbox

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// waitLook waits until the poller has looked at the user's mailboxes, so
// Select answers from memory.
func waitLook(t *testing.T, e *env, user int64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if _, _, ok := e.s.cachedMailbox(user, Inbox); ok {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("the poller did not look at the user's mailboxes within 5s")
}

// TestSelectFromMemory checks that Select answered from the poller's last
// look still sees this process's own changes at once (appends, flags,
// create, delete, rename), and another process's within a poll.
func TestSelectFromMemory(t *testing.T) {
	a := newEnv(t, nil)
	b := openEnv(t, a.dir, nil)
	ctx := testCtx(t)
	alice := a.user(t, "alice")
	a.append(t, alice, "INBOX", msg("one", "x"), Flags{System: FlagSeen})
	a.selectBox(t, alice, "INBOX").Close() // the index stays loaded
	waitLook(t, a, alice)

	// This process's append and flag change.
	r := a.append(t, alice, "INBOX", msg("two", "x"), Flags{})
	v := a.selectBox(t, alice, "INBOX")
	if n := len(v.UIDs()); n != 2 {
		t.Errorf("after a local append: %d messages, want 2", n)
	}
	if fu := v.FirstUnseen(); fu != 2 {
		t.Errorf("FirstUnseen = %d, want 2", fu)
	}
	if _, _, err := v.StoreFlags(ctx, []uint32{r.UID}, FlagsAdd, Flags{System: FlagSeen}, StoreOptions{}); err != nil {
		t.Fatal(err)
	}
	v.Close()
	v = a.selectBox(t, alice, "INBOX")
	if fu := v.FirstUnseen(); fu != 0 {
		t.Errorf("FirstUnseen after \\Seen on every message = %d, want 0", fu)
	}
	v.Close()

	// This process's create, rename and delete.
	if err := a.s.Create(ctx, alice, "work", UseNone); err != nil {
		t.Fatal(err)
	}
	a.selectBox(t, alice, "work").Close()
	waitLook(t, a, alice)
	if err := a.s.Rename(ctx, alice, "work", "play"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.s.Select(ctx, alice, "work"); !errors.Is(err, ErrNoMailbox) {
		t.Errorf("select of the old name after a rename: %v", err)
	}
	a.selectBox(t, alice, "play").Close()
	waitLook(t, a, alice)
	if err := a.s.Delete(ctx, alice, "play"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.s.Select(ctx, alice, "play"); !errors.Is(err, ErrNoMailbox) {
		t.Errorf("select after a delete: %v", err)
	}

	// Another process's delivery, rename and delete show within a poll.
	waitLook(t, a, alice)
	if _, err := b.s.Deliver(ctx, []int64{alice}, strings.NewReader(msg("from b", "x")), DeliverOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := b.s.Create(ctx, alice, "other", UseNone); err != nil {
		t.Fatal(err)
	}
	a.selectBox(t, alice, "other").Close()
	waitLook(t, a, alice)
	if err := b.s.Rename(ctx, alice, "other", "renamed"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for {
		v, err := a.s.Select(ctx, alice, "INBOX")
		if err != nil {
			t.Fatal(err)
		}
		n := len(v.UIDs())
		v.Close()
		vo, errOld := a.s.Select(ctx, alice, "other")
		if errOld == nil {
			vo.Close()
		}
		if n == 3 && errors.Is(errOld, ErrNoMailbox) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("another process's changes not seen within 2s: %d messages, select of the renamed mailbox: %v", n, errOld)
		}
		time.Sleep(20 * time.Millisecond)
	}
	a.selectBox(t, alice, "renamed").Close()
}

// TestSelectTakesLook checks that a Select with no recent look at the
// user's mailboxes takes one, so the next Selects answer from memory
// before the poller's first look: another process's delivery then shows
// at the next look, as for an open view, and not before.
func TestSelectTakesLook(t *testing.T) {
	long := func(o *Options) { o.PollInterval = time.Hour } // the poller stays out of the way
	a := newEnv(t, long)
	b := openEnv(t, a.dir, long)
	ctx := testCtx(t)
	alice := a.user(t, "alice")
	a.append(t, alice, "INBOX", msg("one", "x"), Flags{})
	if _, _, ok := a.s.cachedMailbox(alice, Inbox); ok {
		t.Fatal("names cached before any Select")
	}
	a.selectBox(t, alice, "INBOX").Close()
	if _, _, ok := a.s.cachedMailbox(alice, Inbox); !ok {
		t.Fatal("Select took no look at the user's mailboxes")
	}
	if _, err := b.s.Deliver(ctx, []int64{alice}, strings.NewReader(msg("from b", "x")), DeliverOptions{}); err != nil {
		t.Fatal(err)
	}
	v := a.selectBox(t, alice, "INBOX")
	if n := len(v.UIDs()); n != 1 {
		t.Errorf("Select after the look: %d messages, want the look's 1 (answered from memory)", n)
	}
	v.Close()
	a.s.poll(ctx)
	v = a.selectBox(t, alice, "INBOX")
	if n := len(v.UIDs()); n != 2 {
		t.Errorf("Select after the next look: %d messages, want 2", n)
	}
	v.Close()
}
