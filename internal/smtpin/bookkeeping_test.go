package smtpin

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/cabalmail/cabalmail/internal/store"
)

// TestBookkeeperBatches checks that counts and events queued after
// deliveries reach the store in the background (a burst over flushAt at
// once, a few within flushEvery), that an address revoked meanwhile does
// not hold up the others, and that close writes what is left and later
// items are written by their callers.
func TestBookkeeperBatches(t *testing.T) {
	e := newTestEnv(t, nil)
	ctx := context.Background()
	b := newBookkeeper(e.st, quietLogger())
	received := func(addr string) int64 {
		row, err := e.st.AddressByName(ctx, addr)
		if err != nil {
			t.Fatal(err)
		}
		return row.Holders[0].Received
	}
	at := time.Now()
	for i := range flushAt + 44 {
		b.countReceived("shop@x1.example.test", at.Add(time.Duration(i)*time.Millisecond))
		b.addEvent(&store.Event{Tier: tier, QueueID: fmt.Sprintf("q%d", i), Rcpt: "shop@x1.example.test", DSN: "2.0.0", Status: "Sent"})
	}
	b.countReceived("gone@x1.example.test", at)
	eventually(t, "the burst's counts and events", func() bool {
		evs, err := e.st.ListEvents(ctx, store.EventFilter{Tier: tier})
		if err != nil {
			t.Fatal(err)
		}
		return received("shop@x1.example.test") == flushAt+44 && len(evs) == flushAt+44
	})
	row, _ := e.st.AddressByName(ctx, "shop@x1.example.test")
	latest := at.Add((flushAt + 43) * time.Millisecond)
	if last := row.Holders[0].LastReceived; last.Sub(latest).Abs() > time.Millisecond {
		t.Errorf("last received %v, want the latest count's time %v", last, latest)
	}

	// A few items, far under flushAt: written within flushEvery or so.
	b.countReceived("family@home.example.test", time.Now())
	eventually(t, "a lone count", func() bool { return received("family@home.example.test") == 1 })

	b.close()
	b.countReceived("family@home.example.test", time.Now())
	if n := received("family@home.example.test"); n != 2 {
		t.Errorf("after close a count is written at once: got %d, want 2", n)
	}
	b.close() // idempotent
}

// TestSkipSentEvents checks that deliveries store no event when asked, and
// still count.
func TestSkipSentEvents(t *testing.T) {
	e := newTestEnv(t, func(o *Options) { o.SkipSentEvents = true })
	c := dial(t, e.addr)
	c.ehlo()
	c.must("250", "MAIL FROM:<sender@remote.example>")
	c.must("250", "RCPT TO:<shop@x1.example.test>")
	c.must("550", "RCPT TO:<nobody@x1.example.test>")
	if got := c.data(testMessage("skip")); got[:3] != "250" {
		t.Fatalf("end of data: %q", got)
	}
	eventually(t, "the count and the refusal's event", func() bool {
		row, err := e.st.AddressByName(context.Background(), "shop@x1.example.test")
		if err != nil {
			t.Fatal(err)
		}
		evs, err := e.st.ListEvents(context.Background(), store.EventFilter{Tier: tier})
		if err != nil {
			t.Fatal(err)
		}
		return row.Holders[0].Received == 1 && len(evs) == 1
	})
	evs, _ := e.st.ListEvents(context.Background(), store.EventFilter{Tier: tier})
	if evs[0].Status == "Sent" {
		t.Errorf("a delivery's event was stored with SkipSentEvents: %+v", evs[0])
	}
}
