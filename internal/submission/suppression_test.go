package submission

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/cabalmail/cabalmail/internal/store"
)

func TestSuppressedRecipientRefused(t *testing.T) {
	e := newTestEnv(t, nil)
	ctx := context.Background()
	alice, err := e.store.UserByName(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	since := time.Date(2026, 2, 3, 4, 5, 6, 0, time.UTC)
	sup := store.Suppression{UserID: alice.ID, Address: "gone@remote.test", Reason: "recipient-unknown", Code: "5.1.1",
		Text: "550 5.1.1 <gone@remote.test>: user unknown", Provider: "remote.test", CreatedAt: since}
	if err := e.store.AddSuppression(ctx, &sup); err != nil {
		t.Fatal(err)
	}
	c := e.login("alice")
	c.must("MAIL FROM:<shop@x1.example.test>", "250")
	r := c.cmd("RCPT TO:<Gone@Remote.TEST>")
	if !strings.HasPrefix(r, "550 5.1.1 ") || !strings.Contains(r, "since 2026-02-03T04:05:06Z") || !strings.Contains(r, "recipient-unknown") ||
		!strings.Contains(r, "user unknown") {
		t.Fatalf("suppressed recipient: %q", r)
	}
	c.must("RCPT TO:<other@remote.test>", "250")
	if got := c.data(simpleMessage("shop@x1.example.test", "other@remote.test", "")); !strings.HasPrefix(got, "250") {
		t.Fatalf("data: %q", got)
	}
	qs := e.queued()
	if len(qs) != 1 || strings.Contains(strings.Join(qs[0].Recipients, ","), "gone@") {
		t.Fatalf("queued %+v", qs)
	}
	// Bob's list is his own.
	b := e.login("bob")
	b.must("MAIL FROM:<bobs@b1.example.test>", "250")
	b.must("RCPT TO:<gone@remote.test>", "250")
	// Released: accepted again.
	if _, err := e.store.ReleaseSuppressions(ctx, alice.ID, "gone@remote.test", "operator", time.Now()); err != nil {
		t.Fatal(err)
	}
	c.must("MAIL FROM:<shop@x1.example.test>", "250")
	c.must("RCPT TO:<gone@remote.test>", "250")
}
