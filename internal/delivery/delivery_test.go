package delivery

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/cabalmail/cabalmail/internal/dsn"
	"github.com/cabalmail/cabalmail/internal/smtptest"
	"github.com/cabalmail/cabalmail/internal/store"
)

func startFixture(t *testing.T) *smtptest.Server {
	t.Helper()
	srv, err := smtptest.Start(nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}

func wantEvent(t *testing.T, e store.Event, rcpt, status, code string) {
	t.Helper()
	if e.Rcpt != rcpt || e.Status != status || e.DSN != code {
		t.Errorf("event %+v: want rcpt %s status %s dsn %s", e, rcpt, status, code)
	}
}

func TestDeliverRemote(t *testing.T) {
	srv := startFixture(t)
	e := newEnv(t, srv.Addr, nil)
	e.start()
	id := e.enqueue("alice@x1.example.test", "bob@remote.test", "carol@remote.test")
	evs := e.waitEvents(2)
	for _, ev := range evs {
		if ev.Status != "Sent" || ev.DSN != "2.0.0" || ev.QueueID != id || ev.Tier != "smtp-out" {
			t.Errorf("event %+v: want Sent 2.0.0 for %s", ev, id)
		}
	}
	msgs := srv.WaitMessages(1, 5*time.Second)
	if len(msgs) != 1 || len(msgs[0].Recipients) != 2 || msgs[0].From != "alice@x1.example.test" {
		t.Fatalf("fixture got %+v, want one message for two recipients", msgs)
	}
	if !bytes.Contains(msgs[0].Data, []byte("Hello.")) {
		t.Errorf("body lost: %q", msgs[0].Data)
	}
	e.waitQueueLen(0)
	if log := e.mailLog.String(); !strings.Contains(log, "smtp-out "+id+": to=<bob@remote.test>") || !strings.Contains(log, "dsn=2.0.0, stat=Sent (250 ") {
		t.Errorf("mail log:\n%s", log)
	}
}

func TestRejectSendsDSN(t *testing.T) {
	srv := startFixture(t)
	srv.Reject("bad@remote.test")
	e := newEnv(t, srv.Addr, nil)
	e.start()
	id := e.enqueue("someone@sender.test", "good@remote.test", "bad@remote.test")
	// The original to good@, then the DSN to the sender.
	msgs := srv.WaitMessages(2, 10*time.Second)
	if len(msgs) != 2 {
		t.Fatalf("fixture got %d messages, want the original and a DSN", len(msgs))
	}
	var report *smtptest.Message
	for i := range msgs {
		if msgs[i].From == "" {
			report = &msgs[i]
		}
	}
	if report == nil || len(report.Recipients) != 1 || report.Recipients[0] != "someone@sender.test" {
		t.Fatalf("no DSN from the null sender to someone@sender.test among %+v", msgs)
	}
	st, hdr, err := dsn.Parse(bytes.NewReader(report.Data))
	if err != nil {
		t.Fatalf("parse DSN: %v\n%s", err, report.Data)
	}
	if got := st.Message["Reporting-Mta"]; got != "dns; smtp.mail.example.test" {
		t.Errorf("Reporting-MTA %q", got)
	}
	if len(st.Recipients) != 1 {
		t.Fatalf("DSN recipients %+v, want bad@ only", st.Recipients)
	}
	r := st.Recipients[0]
	if r["Final-Recipient"] != "rfc822; bad@remote.test" || r["Action"] != "failed" || r["Status"] != "5.1.1" ||
		!strings.HasPrefix(r["Diagnostic-Code"], "smtp; 550 5.1.1") {
		t.Errorf("DSN recipient fields %+v", r)
	}
	if !bytes.Contains(hdr, []byte("Subject: test")) {
		t.Errorf("DSN lacks the original header: %q", hdr)
	}
	if !bytes.Contains(report.Data, []byte("X-Cabalmail-Queue-ID: "+id)) {
		t.Errorf("DSN does not name the queue ID %s", id)
	}
	e.waitQueueLen(0)
	if log := e.mailLog.String(); !strings.Contains(log, "to=<bad@remote.test>") || !strings.Contains(log, "dsn=5.1.1, stat=User unknown (550 5.1.1 no such user here)") {
		t.Errorf("mail log:\n%s", log)
	}
}

func TestNullSenderGetsNoDSN(t *testing.T) {
	srv := startFixture(t)
	srv.Reject("bad@remote.test")
	e := newEnv(t, srv.Addr, nil)
	e.start()
	e.enqueue("", "bad@remote.test")
	evs := e.waitEvents(1)
	wantEvent(t, evs[0], "bad@remote.test", "Bounced", "5.1.1")
	e.waitQueueLen(0)
	time.Sleep(200 * time.Millisecond)
	if n := len(srv.Messages()); n != 0 {
		t.Errorf("fixture got %d messages; a null sender's failure must not produce a DSN", n)
	}
	if evs := e.waitEvents(1); len(evs) != 1 {
		t.Errorf("events %+v, want the one failure only", evs)
	}
}

func TestHostedRecipientsAndSender(t *testing.T) {
	srv := startFixture(t)
	srv.Reject("bad@remote.test")
	e := newEnv(t, srv.Addr, nil)
	e.start()
	// Hosted recipients: one active, one suspended, one unknown, all
	// from a remote sender whose DSN goes to the fixture.
	e.enqueue("friend@remote.test", "alice@x1.example.test", "paused@x2.example.test", "nobody@x1.example.test")
	evs := e.waitEvents(3)
	got := map[string]store.Event{}
	for _, ev := range evs {
		got[ev.Rcpt] = ev
	}
	wantEvent(t, got["alice@x1.example.test"], "alice@x1.example.test", "Sent", "2.0.0")
	wantEvent(t, got["paused@x2.example.test"], "paused@x2.example.test", "Bounced", "5.2.1")
	wantEvent(t, got["nobody@x1.example.test"], "nobody@x1.example.test", "Bounced", "5.1.1")
	if n := e.inboxCount(e.alice); n != 1 {
		t.Errorf("alice's INBOX holds %d messages, want 1", n)
	}
	msgs := srv.WaitMessages(1, 10*time.Second)
	if len(msgs) != 1 || msgs[0].From != "" {
		t.Fatalf("want one DSN to the remote sender, got %+v", msgs)
	}
	st, _, err := dsn.Parse(bytes.NewReader(msgs[0].Data))
	if err != nil || len(st.Recipients) != 2 {
		t.Fatalf("DSN %+v, %v: want two failed recipients", st, err)
	}
	// A hosted sender's DSN lands in its INBOX.
	e.enqueue("alice@x1.example.test", "bad@remote.test")
	deadline := time.Now().Add(10 * time.Second)
	for e.inboxCount(e.alice) != 2 {
		if time.Now().After(deadline) {
			t.Fatalf("the DSN for alice did not reach her INBOX; mail log:\n%s", e.mailLog.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	e.waitQueueLen(0)
}

func TestGreylistRetried(t *testing.T) {
	srv := startFixture(t)
	srv.SetMode(smtptest.Greylist)
	e := newEnv(t, srv.Addr, nil)
	e.start()
	id := e.enqueue("alice@x1.example.test", "bob@remote.test")
	evs := e.waitEvents(1)
	wantEvent(t, evs[0], "bob@remote.test", "Deferred", "4.7.1")
	items, err := e.q.List(context.Background())
	if err != nil || len(items) != 1 || items[0].ID != id || items[0].State != "deferred" {
		t.Fatalf("queue %+v, %v: want %s deferred", items, err, id)
	}
	if next := items[0].NextAttempt.Sub(e.clock.Now()); next < 4*time.Minute || next > 5*time.Minute {
		t.Errorf("next attempt in %s, want about 5 minutes", next)
	}
	// Not due yet: nothing happens.
	time.Sleep(100 * time.Millisecond)
	if n := srv.Attempts(); n != 1 {
		t.Fatalf("fixture saw %d attempts before the retry was due, want 1", n)
	}
	e.clock.Add(5 * time.Minute)
	evs = e.waitEvents(2)
	wantEvent(t, evs[1], "bob@remote.test", "Sent", "2.0.0")
	e.waitQueueLen(0)
	if log := e.mailLog.String(); !strings.Contains(log, "dsn=4.7.1, stat=Deferred: 451 4.7.1 greylisted") {
		t.Errorf("mail log:\n%s", log)
	}
}

func TestDelayNoticeThenGiveUp(t *testing.T) {
	srv := startFixture(t)
	srv.SetMode(smtptest.Defer)
	e := newEnv(t, srv.Addr, nil)
	e.start()
	e.enqueue("alice@x1.example.test", "bob@remote.test")
	e.waitEvents(1)
	// Retries before 4 hours: no notice.
	e.clock.Add(2 * time.Hour)
	e.waitEvents(2)
	if n := e.inboxCount(e.alice); n != 0 {
		t.Fatalf("a delay notice came after 2 hours")
	}
	e.clock.Add(2*time.Hour + time.Minute)
	e.waitEvents(3)
	// The notice is a queued DSN delivered locally: one more event.
	e.waitEvents(4)
	if n := e.inboxCount(e.alice); n != 1 {
		t.Fatalf("alice's INBOX holds %d messages after 4 hours, want the delay notice", n)
	}
	// Only one notice, however many retries follow.
	e.clock.Add(4 * time.Hour)
	e.waitEvents(5)
	time.Sleep(100 * time.Millisecond)
	if n := e.inboxCount(e.alice); n != 1 {
		t.Fatalf("alice's INBOX holds %d messages, want one delay notice only", n)
	}
	// After 4 days: failed with 4.4.7, and a failure DSN.
	e.clock.Add(96 * time.Hour)
	evs := e.waitEvents(7)
	var expired bool
	for _, ev := range evs {
		if ev.Rcpt == "bob@remote.test" && ev.Status == "Bounced" && ev.DSN == "4.4.7" {
			expired = true
		}
	}
	if !expired {
		t.Fatalf("no give-up event among %+v", evs)
	}
	e.waitQueueLen(0)
	if n := e.inboxCount(e.alice); n != 2 {
		t.Fatalf("alice's INBOX holds %d messages, want the delay notice and the failure DSN", n)
	}
}

func TestDropMidDataDefers(t *testing.T) {
	srv := startFixture(t)
	srv.SetMode(smtptest.DropData)
	e := newEnv(t, srv.Addr, nil)
	e.start()
	e.enqueue("alice@x1.example.test", "bob@remote.test")
	evs := e.waitEvents(1)
	wantEvent(t, evs[0], "bob@remote.test", "Deferred", "4.4.2")
	srv.SetMode(smtptest.Accept)
	e.clock.Add(6 * time.Minute)
	evs = e.waitEvents(2)
	wantEvent(t, evs[1], "bob@remote.test", "Sent", "2.0.0")
	if msgs := srv.Messages(); len(msgs) != 1 {
		t.Errorf("fixture holds %d messages, want 1", len(msgs))
	}
}

func TestSlowServerTimesOut(t *testing.T) {
	srv := startFixture(t)
	srv.SetMode(smtptest.Slow)
	srv.SetDelay(500 * time.Millisecond)
	e := newEnv(t, srv.Addr, func(o *Options) { o.CommandTimeout = 150 * time.Millisecond })
	e.start()
	e.enqueue("alice@x1.example.test", "bob@remote.test")
	evs := e.waitEvents(1)
	if evs[0].Status != "Deferred" || !strings.HasPrefix(evs[0].DSN, "4.") {
		t.Errorf("event %+v: want a deferral", evs[0])
	}
}

func TestConnectionReuse(t *testing.T) {
	srv := startFixture(t)
	e := newEnv(t, srv.Addr, func(o *Options) { o.PerDomain = 1 })
	const n = 20
	for i := 0; i < n; i++ {
		e.enqueue("alice@x1.example.test", "bob@remote.test")
	}
	e.start()
	srv.WaitMessages(n, 10*time.Second)
	e.waitQueueLen(0)
	if c := srv.Connections(); c != 1 {
		t.Errorf("%d messages to one domain used %d connections, want 1 (reused)", n, c)
	}
}
