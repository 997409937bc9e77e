package storetest

import (
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/cabalmail/cabalmail/internal/store"
)

// runQueue runs the outbound queue's part of the suite (store.Queue).
func runQueue(t *testing.T, open opener) {
	t.Run("QueueEnqueue", func(t *testing.T) { testQueueEnqueue(t, open) })
	t.Run("QueueClaim", func(t *testing.T) { testQueueClaim(t, open) })
	t.Run("QueueFinish", func(t *testing.T) { testQueueFinish(t, open) })
	t.Run("QueueLeaseMoved", func(t *testing.T) { testQueueLeaseMoved(t, open) })
	t.Run("QueueAdmin", func(t *testing.T) { testQueueAdmin(t, open) })
	t.Run("QueueConcurrentClaims", func(t *testing.T) { testQueueConcurrentClaims(t, open) })
}

// queueBase is the suite's clock for queue tests: whole seconds in UTC, so
// every backend can round-trip it exactly.
var queueBase = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func queueItem(id string, created time.Time, rcpts ...string) *store.QueueItem {
	it := &store.QueueItem{ID: id, Sender: "alice@x1.example.test", BlobKey: "blob-" + id, Size: 1234,
		CreatedAt: created, NextAttempt: created}
	for _, r := range rcpts {
		it.Recipients = append(it.Recipients, store.QueueRecipient{Rcpt: r})
	}
	return it
}

func mustEnqueue(t *testing.T, s store.Store, items ...*store.QueueItem) {
	t.Helper()
	noErr(t, "enqueue", s.EnqueueItems(ctx(t), items))
}

func queueIDs(items []store.QueueItem) []string {
	ids := make([]string, len(items))
	for i, it := range items {
		ids[i] = it.ID
	}
	return ids
}

func rcptStates(it store.QueueItem) []string {
	out := make([]string, len(it.Recipients))
	for i, r := range it.Recipients {
		out[i] = r.Rcpt + "=" + string(r.State)
	}
	return out
}

func testQueueEnqueue(t *testing.T, open opener) {
	s := open(t)
	c := ctx(t)
	u := mustUser(t, s, "alice")

	for _, bad := range []*store.QueueItem{
		{BlobKey: "k", Recipients: []store.QueueRecipient{{Rcpt: "a@b.test"}}},
		{ID: "q1", Recipients: []store.QueueRecipient{{Rcpt: "a@b.test"}}},
		{ID: "q1", BlobKey: "k"},
		{ID: "q1", BlobKey: "k", Recipients: []store.QueueRecipient{{Rcpt: ""}}},
		{ID: "q1", BlobKey: "k", Recipients: []store.QueueRecipient{{Rcpt: "a@b.test"}, {Rcpt: "a@b.test"}}},
	} {
		good := queueItem("good", queueBase, "x@y.test")
		wantInvalid(t, fmt.Sprintf("enqueue %+v", bad), s.EnqueueItems(c, []*store.QueueItem{good, bad}))
	}
	items, err := s.ListQueue(c)
	noErr(t, "list", err)
	if len(items) != 0 {
		t.Fatalf("bad batches left %d items queued, want none (a batch is all or nothing)", len(items))
	}

	old := queueItem("q-old", queueBase.Add(-time.Hour), "bob@example.net", "carol@example.net", "dave@x1.example.test")
	old.UserID, old.Sender, old.SignDomain = u.ID, "alice@x1.example.test", "x1.example.test"
	dsnItem := queueItem("q-dsn", queueBase, "alice@x1.example.test")
	dsnItem.Sender, dsnItem.IsDSN, dsnItem.Size = "", true, 99
	defaults := &store.QueueItem{ID: "q-now", BlobKey: "blob-now", Recipients: []store.QueueRecipient{{Rcpt: "e@example.org"}}}
	mustEnqueue(t, s, dsnItem, old, defaults)
	wantRecent(t, "default created", defaults.CreatedAt)
	wantTime(t, "default next attempt", defaults.NextAttempt, defaults.CreatedAt)

	dup := queueItem("q-old", queueBase, "z@example.net")
	wantErr(t, "enqueue duplicate id", s.EnqueueItems(c, []*store.QueueItem{queueItem("q-new", queueBase, "y@example.net"), dup}), store.ErrExists)
	_, err = s.QueueItem(c, "q-new")
	wantErr(t, "item of a failed batch", err, store.ErrNotFound)

	got, err := s.QueueItem(c, "q-old")
	noErr(t, "queue item", err)
	if got.Sender != "alice@x1.example.test" || got.BlobKey != "blob-q-old" || got.Size != 1234 || got.UserID != u.ID ||
		got.IsDSN || got.Held || got.Attempts != 0 || got.LastError != "" || got.LeaseOwner != "" || got.DelayNotified ||
		got.SignDomain != "x1.example.test" {
		t.Errorf("queue item round trip: %+v", got)
	}
	wantTime(t, "created", got.CreatedAt, queueBase.Add(-time.Hour))
	wantTime(t, "next attempt", got.NextAttempt, queueBase.Add(-time.Hour))
	wantStrings(t, "recipients in enqueue order", rcptStates(got),
		[]string{"bob@example.net=pending", "carol@example.net=pending", "dave@x1.example.test=pending"})
	for _, r := range got.Recipients {
		if r.Attempts != 0 || r.LastDSN != "" || r.LastError != "" || !r.LastAttempt.IsZero() {
			t.Errorf("fresh recipient %+v has attempt data", r)
		}
	}
	d, err := s.QueueItem(c, "q-dsn")
	noErr(t, "dsn item", err)
	if d.Sender != "" || !d.IsDSN || d.UserID != 0 || d.Size != 99 || d.SignDomain != "" {
		t.Errorf("dsn item round trip: %+v", d)
	}
	_, err = s.QueueItem(c, "nope")
	wantErr(t, "unknown item", err, store.ErrNotFound)

	items, err = s.ListQueue(c)
	noErr(t, "list", err)
	wantStrings(t, "list, oldest first", queueIDs(items), []string{"q-old", "q-dsn", "q-now"})
	if len(items[0].Recipients) != 3 || len(items[1].Recipients) != 1 {
		t.Errorf("list carries recipients: %v / %v", rcptStates(items[0]), rcptStates(items[1]))
	}
}

func testQueueClaim(t *testing.T, open opener) {
	s := open(t)
	c := ctx(t)
	now := queueBase
	a := queueItem("a", now.Add(-3*time.Minute), "r@example.net")
	b := queueItem("b", now.Add(-2*time.Minute), "r@example.net")
	b.NextAttempt = now.Add(-5 * time.Minute) // due first
	later := queueItem("later", now.Add(-time.Minute), "r@example.net")
	later.NextAttempt = now.Add(time.Minute)
	held := queueItem("held", now.Add(-4*time.Minute), "r@example.net")
	mustEnqueue(t, s, a, b, later, held)
	noErr(t, "hold", s.SetQueueHeld(c, "held", true))

	_, err := s.ClaimQueue(c, "", now, now.Add(time.Minute), 10)
	wantInvalid(t, "claim without owner", err)
	none, err := s.ClaimQueue(c, "w1", now, now.Add(time.Minute), 0)
	noErr(t, "claim 0", err)
	if len(none) != 0 {
		t.Errorf("claim with limit 0 leased %v", queueIDs(none))
	}

	got, err := s.ClaimQueue(c, "w1", now, now.Add(10*time.Minute), 1)
	noErr(t, "claim", err)
	wantStrings(t, "first claim (limit 1, oldest due first)", queueIDs(got), []string{"b"})
	if got[0].LeaseOwner != "w1" || len(got[0].Recipients) != 1 {
		t.Errorf("claimed item %+v", got[0])
	}
	wantTime(t, "lease until", got[0].LeaseUntil, now.Add(10*time.Minute))
	got, err = s.ClaimQueue(c, "w2", now, now.Add(10*time.Minute), 10)
	noErr(t, "claim", err)
	wantStrings(t, "second claim (not leased, not held, due)", queueIDs(got), []string{"a"})
	got, err = s.ClaimQueue(c, "w3", now, now.Add(10*time.Minute), 10)
	noErr(t, "claim", err)
	wantStrings(t, "third claim (everything due is leased)", queueIDs(got), nil)

	// Extend: only the owner's leases move.
	noErr(t, "extend", s.ExtendLease(c, "w1", []string{"b", "a", "nope"}, now.Add(30*time.Minute)))
	noErr(t, "extend none", s.ExtendLease(c, "w1", nil, now.Add(time.Hour)))
	ib, err := s.QueueItem(c, "b")
	noErr(t, "item b", err)
	wantTime(t, "extended lease", ib.LeaseUntil, now.Add(30*time.Minute))
	ia, err := s.QueueItem(c, "a")
	noErr(t, "item a", err)
	if ia.LeaseOwner != "w2" {
		t.Errorf("a leased to %q, want w2", ia.LeaseOwner)
	}
	wantTime(t, "someone else's lease", ia.LeaseUntil, now.Add(10*time.Minute))

	// After a's lease expires (but not b's), a worker takes a, and the
	// item that became due.
	t2 := now.Add(15 * time.Minute)
	got, err = s.ClaimQueue(c, "w3", t2, t2.Add(10*time.Minute), 10)
	noErr(t, "claim after expiry", err)
	ids := queueIDs(got)
	sort.Strings(ids)
	wantStrings(t, "claim after a's lease expired", ids, []string{"a", "later"})

	// Release: a lease given up is claimable at once; someone else's
	// release is ignored.
	noErr(t, "release someone else's", s.ReleaseLease(c, "w1", "a"))
	got, err = s.ClaimQueue(c, "w4", t2, t2.Add(time.Minute), 10)
	noErr(t, "claim", err)
	wantStrings(t, "claim after a foreign release", queueIDs(got), nil)
	noErr(t, "release", s.ReleaseLease(c, "w3", "a"))
	got, err = s.ClaimQueue(c, "w4", t2, t2.Add(time.Minute), 10)
	noErr(t, "claim", err)
	wantStrings(t, "claim after release", queueIDs(got), []string{"a"})

	// Held items are never claimed, even long after.
	got, err = s.ClaimQueue(c, "w5", now.Add(48*time.Hour), now.Add(49*time.Hour), 10)
	noErr(t, "claim", err)
	for _, it := range got {
		if it.ID == "held" {
			t.Errorf("held item claimed")
		}
	}
	noErr(t, "release hold", s.SetQueueHeld(c, "held", false))
	got, err = s.ClaimQueue(c, "w5", now.Add(48*time.Hour), now.Add(49*time.Hour), 10)
	noErr(t, "claim", err)
	wantStrings(t, "claim after hold released", queueIDs(got), []string{"held"})
}

func testQueueFinish(t *testing.T, open opener) {
	s := open(t)
	c := ctx(t)
	now := queueBase
	mustEnqueue(t, s, queueItem("m1", now, "a@example.net", "b@example.net", "c@example.net"), queueItem("m2", now, "d@example.org"))
	claimed, err := s.ClaimQueue(c, "w1", now, now.Add(time.Hour), 10)
	noErr(t, "claim", err)
	if len(claimed) != 2 {
		t.Fatalf("claimed %d items, want 2", len(claimed))
	}
	at := now.Add(time.Second)
	ev := func(id, rcpt, status, dsn string) store.Event {
		return store.Event{Time: at, Tier: "smtp-out", QueueID: id, Rcpt: rcpt, Delay: time.Second, Relay: "mx.example.net",
			DSN: dsn, Status: status, Detail: "reply"}
	}

	// A bad state is refused and changes nothing.
	bad := []store.QueueResult{{ID: "m2", Recipients: []store.QueueRecipient{{Rcpt: "d@example.org", State: "lost"}}}}
	_, _, err = s.FinishQueueAttempts(c, "w1", bad)
	wantInvalid(t, "finish with unknown state", err)
	badEvent := []store.QueueResult{{ID: "m2", Recipients: []store.QueueRecipient{{Rcpt: "d@example.org", State: store.RecipientSent}},
		Events: []store.Event{{Time: at}}}}
	_, _, err = s.FinishQueueAttempts(c, "w1", badEvent)
	wantInvalid(t, "finish with an event without tier", err)
	m2, err := s.QueueItem(c, "m2")
	noErr(t, "m2", err)
	if m2.LeaseOwner != "w1" || m2.Recipients[0].State != store.RecipientPending {
		t.Fatalf("a refused finish changed m2: %+v", m2)
	}

	results := []store.QueueResult{
		{ID: "m1", NextAttempt: now.Add(5 * time.Minute), LastError: "451 4.7.1 greylisted", DelayNotified: true,
			Recipients: []store.QueueRecipient{
				{Rcpt: "a@example.net", State: store.RecipientSent, Attempts: 1, LastDSN: "2.0.0", LastAttempt: at},
				{Rcpt: "b@example.net", State: store.RecipientPending, Attempts: 1, LastDSN: "4.7.1", LastError: "451 4.7.1 greylisted", LastAttempt: at},
				{Rcpt: "c@example.net", State: store.RecipientFailed, Attempts: 1, LastDSN: "5.1.1", LastError: "550 5.1.1 unknown", LastAttempt: at},
			},
			Events: []store.Event{ev("m1", "a@example.net", "Sent", "2.0.0"), ev("m1", "b@example.net", "Deferred", "4.7.1"),
				ev("m1", "c@example.net", "Bounced", "5.1.1")}},
		{ID: "m2", NextAttempt: now.Add(5 * time.Minute),
			Recipients: []store.QueueRecipient{{Rcpt: "d@example.org", State: store.RecipientSent, Attempts: 1, LastDSN: "2.0.0", LastAttempt: at}},
			Events:     []store.Event{ev("m2", "d@example.org", "Sent", "2.0.0")}},
	}
	done, lost, err := s.FinishQueueAttempts(c, "w1", results)
	noErr(t, "finish", err)
	wantStrings(t, "done (blob keys of finished items)", done, []string{"blob-m2"})
	wantStrings(t, "lost", lost, nil)
	_, err = s.QueueItem(c, "m2")
	wantErr(t, "item with no pending recipient", err, store.ErrNotFound)

	m1, err := s.QueueItem(c, "m1")
	noErr(t, "m1", err)
	if m1.Attempts != 1 || m1.LastError != "451 4.7.1 greylisted" || !m1.DelayNotified || m1.LeaseOwner != "" || !m1.LeaseUntil.IsZero() {
		t.Errorf("m1 after an attempt: %+v", m1)
	}
	wantTime(t, "next attempt", m1.NextAttempt, now.Add(5*time.Minute))
	wantStrings(t, "recipient states", rcptStates(m1),
		[]string{"a@example.net=sent", "b@example.net=pending", "c@example.net=failed"})
	b := m1.Recipients[1]
	if b.Attempts != 1 || b.LastDSN != "4.7.1" || b.LastError != "451 4.7.1 greylisted" {
		t.Errorf("deferred recipient %+v", b)
	}
	wantTime(t, "last attempt", b.LastAttempt, at)

	evs, err := s.ListEvents(c, store.EventFilter{Tier: "smtp-out"})
	noErr(t, "events", err)
	if len(evs) != 4 {
		t.Fatalf("%d events stored with the attempts, want 4: %+v", len(evs), evs)
	}
	for _, e := range evs {
		if e.QueueID == "m2" && (e.Rcpt != "d@example.org" || e.Status != "Sent" || e.Delay != time.Second || e.Relay != "mx.example.net") {
			t.Errorf("event round trip: %+v", e)
		}
	}

	// Not due before its next attempt; claimable after; the notice flag
	// is never cleared; the last recipient finishing removes the item.
	got, err := s.ClaimQueue(c, "w2", now.Add(time.Minute), now.Add(time.Hour), 10)
	noErr(t, "claim early", err)
	wantStrings(t, "claim before the next attempt", queueIDs(got), nil)
	t2 := now.Add(6 * time.Minute)
	got, err = s.ClaimQueue(c, "w2", t2, t2.Add(time.Hour), 10)
	noErr(t, "claim", err)
	wantStrings(t, "claim when due", queueIDs(got), []string{"m1"})
	done, lost, err = s.FinishQueueAttempts(c, "w2", []store.QueueResult{{ID: "m1", NextAttempt: t2.Add(10 * time.Minute),
		LastError: "still", Recipients: []store.QueueRecipient{{Rcpt: "b@example.net", State: store.RecipientPending, Attempts: 2}}}})
	noErr(t, "finish again", err)
	if len(done)+len(lost) != 0 {
		t.Errorf("done %v lost %v, want neither", done, lost)
	}
	m1, err = s.QueueItem(c, "m1")
	noErr(t, "m1", err)
	if m1.Attempts != 2 || !m1.DelayNotified || m1.LastError != "still" {
		t.Errorf("m1 after the second attempt: %+v", m1)
	}
	wantStrings(t, "recipients untouched unless named", rcptStates(m1),
		[]string{"a@example.net=sent", "b@example.net=pending", "c@example.net=failed"})
	t3 := t2.Add(11 * time.Minute)
	_, err = s.ClaimQueue(c, "w3", t3, t3.Add(time.Hour), 10)
	noErr(t, "claim", err)
	done, lost, err = s.FinishQueueAttempts(c, "w3", []store.QueueResult{{ID: "m1",
		Recipients: []store.QueueRecipient{{Rcpt: "b@example.net", State: store.RecipientFailed, Attempts: 3, LastDSN: "4.4.7"}}}})
	noErr(t, "finish last", err)
	wantStrings(t, "done after the last recipient failed", done, []string{"blob-m1"})
	wantStrings(t, "lost", lost, nil)
	items, err := s.ListQueue(c)
	noErr(t, "list", err)
	if len(items) != 0 {
		t.Errorf("queue holds %v after every recipient finished", queueIDs(items))
	}
}

// testQueueLeaseMoved: a worker whose lease expired and was taken, or whose
// item was deleted, must not write its results.
func testQueueLeaseMoved(t *testing.T, open opener) {
	s := open(t)
	c := ctx(t)
	now := queueBase
	mustEnqueue(t, s, queueItem("slow", now, "a@example.net"), queueItem("gone", now, "b@example.net"),
		queueItem("mine", now, "c@example.net"))
	_, err := s.ClaimQueue(c, "w1", now, now.Add(time.Minute), 10)
	noErr(t, "claim", err)
	// w1 stalls; its lease runs out and w2 takes the items.
	t2 := now.Add(2 * time.Minute)
	got, err := s.ClaimQueue(c, "w2", t2, t2.Add(time.Hour), 1)
	noErr(t, "claim by w2", err)
	if len(got) != 1 {
		t.Fatalf("w2 claimed %v, want one expired item", queueIDs(got))
	}
	taken := got[0].ID
	var deleted, kept string
	for _, id := range []string{"slow", "gone", "mine"} {
		switch {
		case id == taken:
		case deleted == "":
			deleted = id
		default:
			kept = id
		}
	}
	_, err = s.DeleteQueueItem(c, deleted)
	noErr(t, "delete", err)

	sent := func(id, rcpt string) store.QueueResult {
		it, err := s.QueueItem(c, id)
		if err == nil {
			rcpt = it.Recipients[0].Rcpt
		}
		return store.QueueResult{ID: id, Recipients: []store.QueueRecipient{{Rcpt: rcpt, State: store.RecipientSent, Attempts: 1}},
			Events: []store.Event{{Time: now, Tier: "smtp-out", QueueID: id, Rcpt: rcpt, Status: "Sent"}}}
	}
	keptResult := sent(kept, "")
	done, lost, err := s.FinishQueueAttempts(c, "w1", []store.QueueResult{sent(taken, ""), sent(deleted, "x@example.net"), keptResult})
	noErr(t, "finish by the stale worker", err)
	sort.Strings(lost)
	want := []string{taken, deleted}
	sort.Strings(want)
	wantStrings(t, "lost", lost, want)
	wantStrings(t, "done (w1 still held this lease: its own lease expired but nobody took it)", done, []string{"blob-" + kept})

	it, err := s.QueueItem(c, taken)
	noErr(t, "taken item", err)
	if it.LeaseOwner != "w2" || it.Attempts != 0 || it.Recipients[0].State != store.RecipientPending {
		t.Errorf("a stale worker's results were written over w2's lease: %+v", it)
	}
	evs, err := s.ListEvents(c, store.EventFilter{})
	noErr(t, "events", err)
	if len(evs) != 1 || evs[0].QueueID != kept {
		t.Errorf("events of skipped results were stored: %+v", evs)
	}
}

func testQueueAdmin(t *testing.T, open opener) {
	s := open(t)
	c := ctx(t)
	now := queueBase
	mustEnqueue(t, s, queueItem("q1", now, "a@example.net"), queueItem("q2", now.Add(time.Second), "b@example.net"))

	wantErr(t, "hold unknown", s.SetQueueHeld(c, "nope", true), store.ErrNotFound)
	wantErr(t, "retry unknown", s.RetryQueueItem(c, "nope", now), store.ErrNotFound)
	_, err := s.DeleteQueueItem(c, "nope")
	wantErr(t, "delete unknown", err, store.ErrNotFound)

	noErr(t, "hold", s.SetQueueHeld(c, "q1", true))
	noErr(t, "hold twice", s.SetQueueHeld(c, "q1", true))
	q1, err := s.QueueItem(c, "q1")
	noErr(t, "q1", err)
	if !q1.Held {
		t.Errorf("q1 not held after hold")
	}
	noErr(t, "retry held", s.RetryQueueItem(c, "q1", now.Add(time.Hour)))
	q1, err = s.QueueItem(c, "q1")
	noErr(t, "q1", err)
	if !q1.Held {
		t.Errorf("retry released a held item")
	}
	wantTime(t, "retry moves next attempt", q1.NextAttempt, now.Add(time.Hour))
	noErr(t, "release", s.SetQueueHeld(c, "q1", false))

	noErr(t, "retry later", s.RetryQueueItem(c, "q2", now.Add(2*time.Hour)))
	got, err := s.ClaimQueue(c, "w", now.Add(90*time.Minute), now.Add(3*time.Hour), 10)
	noErr(t, "claim", err)
	wantStrings(t, "due after retry", queueIDs(got), []string{"q1"})

	key, err := s.DeleteQueueItem(c, "q2")
	noErr(t, "delete", err)
	if key != "blob-q2" {
		t.Errorf("delete returned blob key %q, want blob-q2", key)
	}
	_, err = s.QueueItem(c, "q2")
	wantErr(t, "deleted item", err, store.ErrNotFound)
	// Deleting a leased item is allowed (the operator wins); the worker's
	// results are then skipped.
	key, err = s.DeleteQueueItem(c, "q1")
	noErr(t, "delete leased", err)
	if key != "blob-q1" {
		t.Errorf("delete returned blob key %q, want blob-q1", key)
	}
	_, lost, err := s.FinishQueueAttempts(c, "w", []store.QueueResult{{ID: "q1",
		Recipients: []store.QueueRecipient{{Rcpt: "a@example.net", State: store.RecipientSent}}}})
	noErr(t, "finish deleted", err)
	wantStrings(t, "lost", lost, []string{"q1"})
}
