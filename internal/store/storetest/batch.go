package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/cabalmail/cabalmail/internal/store"
)

// runBatched tests the batched forms of per-delivery writes
// (CountReceivedBatch, AddEvents).
func runBatched(t *testing.T, open opener) {
	t.Run("CountReceivedBatch", func(t *testing.T) { testCountReceivedBatch(t, open) })
	t.Run("AddEvents", func(t *testing.T) { testAddEvents(t, open) })
}

func testCountReceivedBatch(t *testing.T, open opener) {
	s := open(t)
	c := ctx(t)
	mustDomain(t, s, "example.test")
	alice := mustUser(t, s, "alice")
	bob := mustUser(t, s, "bob")
	fam := mustAddress(t, s, "family", "home", "example.test", alice, bob)
	shop := mustAddress(t, s, "shop", "x1", "example.test", alice)
	quiet := mustAddress(t, s, "quiet", "x1", "example.test", alice)

	t1 := time.Date(2030, 1, 2, 3, 4, 5, 123456000, time.UTC)
	t2 := t1.Add(time.Hour)
	unknown, err := s.CountReceivedBatch(c, []store.ReceivedCount{
		{Address: fam.Address, At: t2, N: 3},
		{Address: "gone@home.example.test", At: t1, N: 1},
		{Address: shop.Address, At: t1, N: 1},
		// The same address twice adds up; an earlier time does not move
		// LastReceived back.
		{Address: fam.Address, At: t1, N: 2},
	})
	noErr(t, "batch", err)
	if !slices.Equal(unknown, []string{"gone@home.example.test"}) {
		t.Errorf("unknown %v, want the one address that does not exist", unknown)
	}
	check := func(what string, addr string, n int64, last time.Time) {
		t.Helper()
		a, err := s.AddressByName(c, addr)
		noErr(t, what, err)
		for _, h := range a.Holders {
			if h.Received != n {
				t.Errorf("%s: %s received %d, want %d", what, h.UserName, h.Received, n)
			}
			wantTime(t, what+": "+h.UserName+" last received", h.LastReceived, last)
		}
	}
	check("family", fam.Address, 5, t2)
	check("shop", shop.Address, 1, t1)
	check("untouched", quiet.Address, 0, time.Time{})

	// Bad entries refuse the whole batch and change nothing.
	_, err = s.CountReceivedBatch(c, []store.ReceivedCount{{Address: shop.Address, At: t2, N: 1}, {Address: fam.Address, At: t2, N: 0}})
	wantInvalid(t, "zero count", err)
	_, err = s.CountReceivedBatch(c, []store.ReceivedCount{{Address: shop.Address, At: t2, N: -4}})
	wantInvalid(t, "negative count", err)
	check("shop after refused batches", shop.Address, 1, t1)

	unknown, err = s.CountReceivedBatch(c, nil)
	if err != nil || len(unknown) != 0 {
		t.Errorf("empty batch: %v, %v", unknown, err)
	}
}

func testAddEvents(t *testing.T, open opener) {
	s := open(t)
	c := ctx(t)
	base := time.Date(2031, 5, 6, 7, 8, 9, 10000, time.UTC)
	in := []*store.Event{
		{Time: base, Tier: "smtp-in", QueueID: "q1", Rcpt: "a@x1.example.test", Delay: time.Second, Relay: "client [127.0.0.1]", DSN: "2.0.0", Status: "Sent", Detail: "250 2.0.0 delivered"},
		{Time: base.Add(time.Minute), Tier: "smtp-in", QueueID: "q2", Rcpt: "b@x1.example.test", DSN: "5.1.1", Status: "Bounced", Detail: "550 5.1.1 unknown"},
		{Tier: "smtp-in", QueueID: "q3", Status: "Sent"}, // no time: now
	}
	before := time.Now()
	noErr(t, "add events", s.AddEvents(c, in))
	seen := map[int64]bool{}
	for _, e := range in {
		if e.ID == 0 || seen[e.ID] {
			t.Errorf("event %s got ID %d", e.QueueID, e.ID)
		}
		seen[e.ID] = true
	}
	if in[2].Time.Before(before.Add(-time.Second)) || in[2].Time.After(time.Now().Add(time.Second)) {
		t.Errorf("event without a time got %v, want now", in[2].Time)
	}
	got, err := s.ListEvents(c, store.EventFilter{Tier: "smtp-in"})
	noErr(t, "list", err)
	if len(got) != 3 {
		t.Fatalf("listed %d events, want 3: %+v", len(got), got)
	}
	byID := map[int64]store.Event{}
	for _, e := range got {
		byID[e.ID] = e
	}
	for _, want := range in {
		e := byID[want.ID]
		if e.QueueID != want.QueueID || e.Rcpt != want.Rcpt || e.Delay != want.Delay || e.Relay != want.Relay ||
			e.DSN != want.DSN || e.Status != want.Status || e.Detail != want.Detail {
			t.Errorf("stored %+v, want %+v", e, *want)
		}
		wantTime(t, "event "+want.QueueID+" time", e.Time, want.Time)
	}

	// One bad event refuses the whole batch.
	wantInvalid(t, "no tier", s.AddEvents(c, []*store.Event{{Tier: "smtp-in", QueueID: "ok"}, {QueueID: "bad"}}))
	wantInvalid(t, "nil event", s.AddEvents(c, []*store.Event{nil}))
	got, err = s.ListEvents(c, store.EventFilter{})
	noErr(t, "list after refused batches", err)
	if len(got) != 3 {
		t.Errorf("refused batches stored events: %+v", got)
	}
	noErr(t, "empty batch", s.AddEvents(c, nil))
}
