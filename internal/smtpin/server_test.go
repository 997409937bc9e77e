package smtpin

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/cabalmail/cabalmail/internal/addresses"
	"github.com/cabalmail/cabalmail/internal/maillog"
	"github.com/cabalmail/cabalmail/internal/store"
)

func TestDeliverOneCopyPerUser(t *testing.T) {
	e := newTestEnv(t, nil)
	c := dial(t, e.addr)
	c.ehlo()
	c.must("250", "MAIL FROM:<sender@remote.example>")
	c.must("250", "RCPT TO:<shop@x1.example.test>")
	c.must("250", "RCPT TO:<Family@HOME.example.test>")
	c.must("250", "RCPT TO:<shop@x1.example.test>") // twice: still one copy
	got := c.data(testMessage("one"))
	if !strings.HasPrefix(got, "250 2.0.0") {
		t.Fatalf("end of data: %q", got)
	}
	alice, bob := e.inbox("alice"), e.inbox("bob")
	if len(alice) != 1 || len(bob) != 1 {
		t.Fatalf("alice has %d messages, bob %d; want 1 each", len(alice), len(bob))
	}
	a, b := string(alice[0]), string(bob[0])
	for _, want := range []string{
		"Return-Path: <sender@remote.example>\r\n",
		"Delivered-To: shop@x1.example.test\r\nDelivered-To: family@home.example.test\r\n",
		"Authentication-Results: mail.example.test;",
		"Received: from client.example.net ([127.0.0.1])\r\n\tby mx.example.test (Cabalmail) with ESMTP id ",
		"\r\n\r\nHello.\r\n",
	} {
		if !strings.Contains(a, want) {
			t.Errorf("alice's copy lacks %q:\n%s", want, a)
		}
	}
	if !strings.Contains(b, "Delivered-To: family@home.example.test\r\n") || strings.Contains(b, "shop@") {
		t.Errorf("bob's copy has the wrong Delivered-To:\n%s", b)
	}
	// The resolver is dead: the verdicts are temperror, the session was
	// not held up.
	if !strings.Contains(a, "spf=temperror") || !strings.Contains(a, "dmarc=temperror") {
		t.Errorf("want spf and dmarc temperror with a dead resolver:\n%s", a)
	}
	// Counters, written just after the reply.
	eventually(t, "the received counters", func() bool {
		row, err := e.st.AddressByName(context.Background(), "family@home.example.test")
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range row.Holders {
			if h.Received != 1 || h.LastReceived.IsZero() {
				return false
			}
		}
		return len(row.Holders) == 2
	})
	// Mail log: one Sent line per recipient address.
	lines := mailLogLines(t, e)
	if len(lines) != 2 {
		t.Fatalf("mail log: want 2 lines, got %d: %v", len(lines), lines)
	}
	for _, l := range lines {
		if l.Tier != "smtp-in" || l.DSN != "2.0.0" || l.Stat != "Sent" || l.RelayIP != "127.0.0.1" {
			t.Errorf("mail log line %+v", l)
		}
	}
	eventually(t, "two stored events", func() bool {
		evs, err := e.st.ListEvents(context.Background(), store.EventFilter{Tier: "smtp-in"})
		if err != nil {
			t.Fatal(err)
		}
		return len(evs) == 2 && evs[0].DSN == "2.0.0" && evs[0].Status == "Sent"
	})
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func mailLogLines(t *testing.T, e *testEnv) []maillog.Entry {
	t.Helper()
	var out []maillog.Entry
	for _, l := range strings.Split(strings.TrimSpace(e.mailLog.String()), "\n") {
		if l == "" {
			continue
		}
		en, err := maillog.Parse(l)
		if err != nil {
			t.Fatalf("mail log line %q: %v", l, err)
		}
		out = append(out, en)
	}
	return out
}

func TestRecipientVerdicts(t *testing.T) {
	e := newTestEnv(t, nil)
	c := dial(t, e.addr)
	c.ehlo()
	c.must("250", "MAIL FROM:<sender@remote.example>")
	for _, tc := range []struct{ rcpt, want string }{
		{"nobody@x1.example.test", "550 5.1.1"},
		{"paused@x2.example.test", "550 5.2.1"},
		{"someone@elsewhere.example", "550 5.7.1"},
		{"postmaster@example.test", "550 5.1.1"},   // apex addresses do not exist
		{"a@b.c.x1.example.test", "550 5.1.1"},     // two labels below the apex
		{"shop@x1.example.test.evil", "550 5.7.1"}, // not under our apex
		{"shop@x1.example.test", "250"},
	} {
		c.must(tc.want, "RCPT TO:<%s>", tc.rcpt)
	}
	c.must("250", "RSET")
	// A revoke takes effect for the very next transaction.
	if err := e.addrs.Revoke(context.Background(), addresses.Operator(), "shop@x1.example.test"); err != nil {
		t.Fatal(err)
	}
	c.must("250", "MAIL FROM:<sender@remote.example>")
	c.must("550 5.1.1", "RCPT TO:<shop@x1.example.test>")
	if err := e.addrs.Suspend(context.Background(), addresses.Operator(), "bank@x1.example.test"); err != nil {
		t.Fatal(err)
	}
	c.must("550 5.2.1", "RCPT TO:<bank@x1.example.test>")
	if err := e.addrs.Reinstate(context.Background(), addresses.Operator(), "bank@x1.example.test"); err != nil {
		t.Fatal(err)
	}
	c.must("250", "RCPT TO:<bank@x1.example.test>")

	// Every rejection is in the mail log with its code.
	var dsns []string
	for _, l := range mailLogLines(t, e) {
		dsns = append(dsns, l.DSN+" "+l.Stat)
	}
	want := "5.1.1 User unknown,5.2.1 Mailbox disabled,5.7.1 Relaying denied,5.1.1 User unknown,5.1.1 User unknown,5.7.1 Relaying denied,5.1.1 User unknown,5.2.1 Mailbox disabled"
	if strings.Join(dsns, ",") != want {
		t.Errorf("mail log codes:\n got %s\nwant %s", strings.Join(dsns, ","), want)
	}
}

func TestStoreTroubleIsNever5xx(t *testing.T) {
	e := newTestEnv(t, nil)
	c := dial(t, e.addr)
	c.ehlo()
	c.must("250", "MAIL FROM:<sender@remote.example>")
	e.st.down.Store(true)
	c.must("451 4.3.0", "RCPT TO:<shop@x1.example.test>")
	c.must("451 4.3.0", "RCPT TO:<nobody@x1.example.test>")
	e.st.down.Store(false)
	c.must("250", "RCPT TO:<shop@x1.example.test>")
	e.st.down.Store(true) // fails at delivery
	got := c.data(testMessage("down"))
	if !strings.HasPrefix(got, "451 4.3.0") {
		t.Fatalf("end of data with the store down: %q", got)
	}
	e.st.down.Store(false)
	if n := len(e.inbox("alice")); n != 0 {
		t.Fatalf("alice has %d messages after a failed delivery", n)
	}
	c.must("250", "MAIL FROM:<sender@remote.example>")
	c.must("250", "RCPT TO:<shop@x1.example.test>")
	if got := c.data(testMessage("up")); !strings.HasPrefix(got, "250") {
		t.Fatalf("after recovery: %q", got)
	}
	if !strings.Contains(e.mailLog.String(), "dsn=4.3.0, stat=Deferred: 451 4.3.0") {
		t.Errorf("mail log lacks the deferral:\n%s", e.mailLog.String())
	}
}

func TestTempfailSwitch(t *testing.T) {
	e := newTestEnv(t, nil)
	ctx := context.Background()
	if err := SetTempfail(ctx, e.st, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	st, err := ReadTempfail(ctx, e.st, time.Now())
	if err != nil || !st.On || st.Until.IsZero() {
		t.Fatalf("state %v, %v", st, err)
	}
	time.Sleep(tempfailCacheFor + 100*time.Millisecond) // every process sees it within this
	c := dial(t, e.addr)
	c.ehlo()
	c.must("250", "MAIL FROM:<sender@remote.example>")
	c.must("450 4.1.1", "RCPT TO:<nobody@x1.example.test>")
	c.must("450 4.2.1", "RCPT TO:<paused@x2.example.test>")
	c.must("450 4.7.1", "RCPT TO:<x@elsewhere.example>")
	c.must("250", "RCPT TO:<shop@x1.example.test>")
	if got := c.data("Subject: bare\nLF\r\n"); !strings.HasPrefix(got, "450 4.5.2") {
		t.Fatalf("bare LF under tempfail: %q", got)
	}
	if err := ClearTempfail(ctx, e.st); err != nil {
		t.Fatal(err)
	}
	time.Sleep(tempfailCacheFor + 100*time.Millisecond)
	c.must("250", "MAIL FROM:<sender@remote.example>")
	c.must("550 5.1.1", "RCPT TO:<nobody@x1.example.test>")

	// An expired switch is off.
	if err := SetTempfail(ctx, e.st, time.Now().Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	if st, err := ReadTempfail(ctx, e.st, time.Now()); err != nil || st.On {
		t.Fatalf("expired switch: %v, %v", st, err)
	}
	// A forever switch and a garbled one.
	if err := SetTempfail(ctx, e.st, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if st, _ := ReadTempfail(ctx, e.st, time.Now()); !st.On || !st.Until.IsZero() {
		t.Fatalf("forever switch: %v", st)
	}
	if err := e.st.SetSetting(ctx, TempfailKey, "tomorrow"); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadTempfail(ctx, e.st, time.Now()); err == nil {
		t.Fatal("garbled switch read without error")
	}
	time.Sleep(tempfailCacheFor + 100*time.Millisecond)
	// Unsure whether to hold 5xx back: hold them back.
	c.must("451 4.3.0", "RCPT TO:<nobody@x1.example.test>")
}

func TestPanicIs451(t *testing.T) {
	e := newTestEnv(t, nil)
	c := dial(t, e.addr)
	c.ehlo()
	c.must("250", "MAIL FROM:<sender@remote.example>")
	e.st.panic.Store(true)
	c.must("451 4.3.0", "RCPT TO:<shop@x1.example.test>")
	e.st.panic.Store(false)
	c.must("250", "RCPT TO:<shop@x1.example.test>")
	if got := c.data(testMessage("after-panic")); !strings.HasPrefix(got, "250") {
		t.Fatalf("after a recovered panic: %q", got)
	}
	if !strings.Contains(e.mailLog.String(), "dsn=4.3.0, stat=Deferred") {
		t.Errorf("mail log lacks the deferral:\n%s", e.mailLog.String())
	}
}

func TestSentEventsOffByDefault(t *testing.T) {
	e := newTestEnv(t, nil)
	c := dial(t, e.addr)
	c.ehlo()
	c.must("250", "MAIL FROM:<sender@remote.example>")
	c.must("550 5.1.1", "RCPT TO:<nobody@x1.example.test>")
	c.must("250", "RCPT TO:<shop@x1.example.test>")
	if got := c.data(testMessage("ev")); !strings.HasPrefix(got, "250") {
		t.Fatal(got)
	}
	eventually(t, "the refusal's event", func() bool {
		evs, err := e.st.ListEvents(context.Background(), store.EventFilter{Tier: "smtp-in"})
		if err != nil {
			t.Fatal(err)
		}
		return len(evs) == 1 && evs[0].DSN == "5.1.1" && evs[0].Rcpt == "nobody@x1.example.test"
	})
	if !strings.Contains(e.mailLog.String(), "dsn=2.0.0, stat=Sent") {
		t.Errorf("the delivery is not in the mail log:\n%s", e.mailLog.String())
	}
}
