package submission

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cabalmail/cabalmail/internal/dkim"
	msgauth "github.com/emersion/go-msgauth/dkim"
)

// verifyDKIM checks that q, claimed by queued(), is queued unsigned to be
// signed for wantDomain, has the delivery runner send it out, and checks
// the signature of what the remote host got against the apex key, looked
// up under the name a verifier would ask for. It returns the message as
// sent.
func (e *testEnv) verifyDKIM(q queuedMessage, wantDomain string) string {
	e.t.Helper()
	if q.SignDomain != wantDomain {
		e.t.Errorf("queued to be signed for %q, want %q", q.SignDomain, wantDomain)
	}
	if strings.Contains(q.body, "DKIM-Signature:") {
		e.t.Errorf("queued message is signed already (signing is the delivery's work):\n%s", q.body)
	}
	sent := e.sendOut([]queuedMessage{q}, 1)[0]
	msg := string(sent.Data)
	if !strings.HasPrefix(msg, "DKIM-Signature: ") || !strings.HasSuffix(msg, q.body) {
		e.t.Fatalf("sent message is not the queued one with a DKIM-Signature in front:\n%s", msg)
	}
	dom, err := e.domains.SigningDomain(context.Background(), wantDomain)
	if err != nil {
		e.t.Fatal(err)
	}
	txt, err := dkim.TXTRecord(dom.KeyPEM)
	if err != nil {
		e.t.Fatal(err)
	}
	wantName := "cabal._domainkey." + wantDomain
	vs, err := msgauth.VerifyWithOptions(strings.NewReader(msg), &msgauth.VerifyOptions{
		LookupTXT: func(name string) ([]string, error) {
			if name != wantName {
				return nil, fmt.Errorf("looked up %s, want %s", name, wantName)
			}
			return []string{txt}, nil
		},
	})
	if err != nil {
		e.t.Fatal(err)
	}
	if len(vs) != 1 || vs[0].Err != nil || vs[0].Domain != wantDomain {
		e.t.Fatalf("DKIM verifications = %+v", vs)
	}
	if !strings.Contains(msg, "a=rsa-sha256") || !strings.Contains(msg, "c=relaxed/relaxed") {
		e.t.Errorf("signature is not rsa-sha256 relaxed/relaxed:\n%s", msg)
	}
	return msg
}

func TestSubmitOverSTARTTLS(t *testing.T) {
	e := newTestEnv(t, nil)
	c := e.dial(false)
	ehlo := c.must("EHLO client.example", "250")
	if !strings.Contains(ehlo, "STARTTLS") || strings.Contains(ehlo, "AUTH") {
		t.Fatalf("EHLO before TLS = %q, want STARTTLS and no AUTH", ehlo)
	}
	if r := c.cmd(plainAuth("alice", "password-alice")); !strings.HasPrefix(r, "523 5.7.10") {
		t.Fatalf("AUTH before TLS = %q, want 523 5.7.10", r)
	}
	if r := c.cmd("MAIL FROM:<shop@x1.example.test>"); !strings.HasPrefix(r, "530 5.7.0") {
		t.Fatalf("MAIL before AUTH = %q, want 530 5.7.0", r)
	}
	c.startTLS()
	ehlo = c.must("EHLO client.example", "250")
	if !strings.Contains(ehlo, "AUTH PLAIN LOGIN") {
		t.Fatalf("EHLO after TLS = %q, want AUTH PLAIN LOGIN", ehlo)
	}
	c.must(plainAuth("alice", "password-alice"), "235 2.0.0")
	c.must("MAIL FROM:<shop@x1.example.test>", "250")
	c.must("RCPT TO:<friend@remote.test>", "250")
	c.must("RCPT TO:<secret@remote.test>", "250")
	c.must("RCPT TO:<Friend@remote.test>", "250") // a duplicate: one copy
	msg := "From: Alice <shop@x1.example.test>\r\nTo: friend@remote.test\r\nBcc: secret@remote.test,\r\n other@remote.test\r\nSubject: hi\r\n\r\nHello.\r\n.dot line\r\n"
	r := c.data(msg)
	if !strings.HasPrefix(r, "250 2.0.0 queued as ") {
		t.Fatalf("end of data = %q", r)
	}
	id := strings.TrimPrefix(r, "250 2.0.0 queued as ")
	c.must("QUIT", "221")

	qs := e.queued()
	if len(qs) != 1 || qs[0].ID != id {
		t.Fatalf("queued = %+v, want one item %s", qs, id)
	}
	q := qs[0]
	if q.Sender != "shop@x1.example.test" || strings.Join(q.Recipients, ",") != "friend@remote.test,secret@remote.test" {
		t.Errorf("envelope = %s -> %v", q.Sender, q.Recipients)
	}
	body := q.body
	if strings.Contains(body, "Bcc") || strings.Contains(body, "other@remote.test") {
		t.Errorf("Bcc not removed:\n%s", body)
	}
	for _, want := range []string{"\r\nDate: ", "\r\nMessage-ID: <", "@x1.example.test>\r\n", "\r\n\r\nHello.\r\n.dot line\r\n"} {
		if !strings.Contains(body, want) {
			t.Errorf("queued message lacks %q:\n%s", want, body)
		}
	}
	if !strings.HasPrefix(body, "Received: by smtp.mail.example.test (Cabalmail) with ESMTPSA id ") {
		t.Errorf("Received field: %q", body[:80])
	}
	if strings.Contains(body, "127.0.0.1") || strings.Contains(body, "client.example") {
		t.Errorf("the Received field reveals the client:\n%s", body)
	}
	e.verifyDKIM(q, "x1.example.test")
}

func TestImplicitTLSAndLogin(t *testing.T) {
	e := newTestEnv(t, func(o *Options) { o.ReceivedRevealsClientIP = true })
	c := e.dial(true)
	ehlo := c.must("EHLO client.example", "250")
	if strings.Contains(ehlo, "STARTTLS") || !strings.Contains(ehlo, "AUTH PLAIN LOGIN") {
		t.Fatalf("EHLO on the TLS port = %q", ehlo)
	}
	c.must("AUTH LOGIN", "334 "+base64.StdEncoding.EncodeToString([]byte("Username:")))
	c.must(base64.StdEncoding.EncodeToString([]byte("bob")), "334 "+base64.StdEncoding.EncodeToString([]byte("Password:")))
	c.must(base64.StdEncoding.EncodeToString([]byte("password-bob")), "235 2.0.0")
	c.must("MAIL FROM:<family@home.example.test>", "250")
	c.must("RCPT TO:<x@remote.test>", "250")
	msg := "From: family@home.example.test\r\nDate: Mon, 2 Jan 2006 15:04:05 +0000\r\nMessage-ID: <own@home.example.test>\r\n\r\nbody\r\n"
	if r := c.data(msg); !strings.HasPrefix(r, "250 2.0.0") {
		t.Fatalf("end of data = %q", r)
	}
	qs := e.queued()
	if len(qs) != 1 {
		t.Fatalf("queued %d", len(qs))
	}
	body := qs[0].body
	if !strings.HasPrefix(body, "Received: from client.example ([127.0.0.1])\r\n\tby smtp.mail.example.test") {
		t.Errorf("Received field with reveal: %q", body[:100])
	}
	if strings.Count(body, "\r\nMessage-ID:") != 1 || strings.Count(body, "\r\nDate:") != 1 {
		t.Errorf("Date or Message-ID added although present:\n%s", body)
	}
	e.verifyDKIM(qs[0], "home.example.test")
}

func TestRefusals(t *testing.T) {
	e := newTestEnv(t, func(o *Options) {
		o.MaxRecipients = 2
		o.MaxMessageSize = 2000
	})
	c := e.login("alice")
	tests := []struct{ cmd, want string }{
		{"MAIL FROM:<bobs@b1.example.test>", "550 5.7.1 sender <bobs@b1.example.test> is not one of your addresses"},
		{"MAIL FROM:<nobody@x1.example.test>", "550 5.7.1 sender <nobody@x1.example.test> is not one of your addresses"},
		{"MAIL FROM:<>", "550 5.7.1"},
		{"MAIL FROM:<paused@x2.example.test>", "250"}, // suspended, still held
		{"RCPT TO:<a@remote.test>", "250"},
		{"RCPT TO:<b@remote.test>", "250"},
		{"RCPT TO:<c@remote.test>", "452 4.5.3 too many recipients: at most 2 per message"},
		{"RSET", "250"},
		{"MAIL FROM:<shop@x1.example.test> SIZE=5000", "552 5.3.4"},
	}
	for _, tt := range tests {
		if r := c.cmd(tt.cmd); !strings.HasPrefix(r, tt.want) {
			t.Errorf("%s: %q, want %q", tt.cmd, r, tt.want)
		}
	}
	// From header not held.
	c.must("MAIL FROM:<shop@x1.example.test>", "250")
	c.must("RCPT TO:<a@remote.test>", "250")
	if r := c.data(simpleMessage("bobs@b1.example.test", "a@remote.test", "")); r != "550 5.7.1 From address <bobs@b1.example.test> is not one of your addresses" {
		t.Errorf("foreign From: %q", r)
	}
	// Too big.
	c.must("MAIL FROM:<shop@x1.example.test>", "250")
	c.must("RCPT TO:<a@remote.test>", "250")
	if r := c.data(simpleMessage("shop@x1.example.test", "a@remote.test", "X-Pad: "+strings.Repeat("x", 900)+"\r\nX-Pad: "+strings.Repeat("x", 900)+"\r\nX-Pad: "+strings.Repeat("x", 900)+"\r\n")); !strings.HasPrefix(r, "552 5.3.4") {
		t.Errorf("too big: %q", r)
	}
	// Two From fields; bare LF.
	c.must("MAIL FROM:<shop@x1.example.test>", "250")
	c.must("RCPT TO:<a@remote.test>", "250")
	if r := c.data("From: shop@x1.example.test\r\nFrom: shop@x1.example.test\r\n\r\nx\r\n"); !strings.HasPrefix(r, "550 5.6.0 bad message header: 2 From fields") {
		t.Errorf("two From fields: %q", r)
	}
	c.must("MAIL FROM:<shop@x1.example.test>", "250")
	c.must("RCPT TO:<a@remote.test>", "250")
	if r := c.data("From: shop@x1.example.test\r\n\r\nbare\nLF\r\n"); !strings.HasPrefix(r, "550 5.5.2") {
		t.Errorf("bare LF: %q", r)
	}
	if qs := e.queued(); len(qs) != 0 {
		t.Fatalf("refused messages were queued: %d", len(qs))
	}
	// Our own trouble: 451 4.3.0, nothing queued, and the day's count is
	// not spent.
	e.blobs.down.Store(true)
	c.must("MAIL FROM:<shop@x1.example.test>", "250")
	c.must("RCPT TO:<a@remote.test>", "250")
	if r := c.data(simpleMessage("shop@x1.example.test", "a@remote.test", "")); !strings.HasPrefix(r, "451 4.3.0") {
		t.Errorf("queue failure: %q", r)
	}
	e.blobs.down.Store(false)
	if e.srv.daily.full(1) || len(e.srv.daily.byUser) != 0 {
		t.Errorf("a failed message counted against the daily limit: %v", e.srv.daily.byUser)
	}
	// A missing From is taken from the envelope.
	c.must("MAIL FROM:<shop@x1.example.test>", "250")
	c.must("RCPT TO:<a@remote.test>", "250")
	if r := c.data("Subject: no from\r\n\r\nx\r\n"); !strings.HasPrefix(r, "250") {
		t.Errorf("no From: %q", r)
	}
	qs := e.queued()
	if len(qs) != 1 || !strings.Contains(qs[0].body, "\r\nFrom: <shop@x1.example.test>\r\n") {
		t.Fatalf("missing From not added: %+v", qs)
	}
	e.verifyDKIM(qs[0], "x1.example.test")
}

func TestDailyLimit(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	clock := &now
	e := newTestEnv(t, func(o *Options) {
		o.MaxMessagesPerDay = 2
		o.Now = func() time.Time { return *clock }
	})
	c := e.login("alice")
	for i := 0; i < 2; i++ {
		c.must("MAIL FROM:<shop@x1.example.test>", "250")
		c.must("RCPT TO:<a@remote.test>", "250")
		if r := c.data(simpleMessage("shop@x1.example.test", "a@remote.test", "")); !strings.HasPrefix(r, "250") {
			t.Fatal(r)
		}
		now = now.Add(time.Hour)
	}
	if r := c.cmd("MAIL FROM:<shop@x1.example.test>"); r != "450 4.7.1 daily limit of 2 messages reached, try again later" {
		t.Fatalf("third message: %q", r)
	}
	// Bob has his own allowance.
	b := e.login("bob")
	b.must("MAIL FROM:<bobs@b1.example.test>", "250")
	now = now.Add(23 * time.Hour) // the first message is now over a day old
	c.must("MAIL FROM:<shop@x1.example.test>", "250")
}

func TestFailedLogins(t *testing.T) {
	e := newTestEnv(t, func(o *Options) {
		o.AuthFailureDelay = 50 * time.Millisecond
		o.AuthFailureLimit = 5
	})
	c := e.dial(true)
	c.must("EHLO client.example", "250")
	start := time.Now()
	c.must(plainAuth("alice", "wrong"), "535 5.7.8")
	c.must(plainAuth("nobody", "password-alice"), "535 5.7.8")
	// Third failure on one connection: 421 and the connection ends.
	c.must(plainAuth("alice", "password-bob"), "421 4.7.0")
	if d := time.Since(start); d < (50+100+200)*time.Millisecond {
		t.Errorf("three failures answered in %v, want the growing delay", d)
	}
	if _, err := c.r.ReadString('\n'); err == nil {
		t.Error("connection still open after three failures")
	}
	// Two more from the address reach the limit; then even the right
	// password is refused unchecked.
	c = e.dial(true)
	c.must("EHLO client.example", "250")
	c.must(plainAuth("alice", "x"), "535 5.7.8")
	c.must(plainAuth("alice", "y"), "535 5.7.8")
	c = e.dial(true)
	c.must("EHLO client.example", "250")
	if r := c.cmd(plainAuth("alice", "password-alice")); !strings.HasPrefix(r, "454 4.7.0 too many failed logins") {
		t.Errorf("login past the limit: %q", r)
	}
	// Authorization identity of another user.
	e2 := newTestEnv(t, nil)
	c = e2.dial(true)
	c.must("EHLO client.example", "250")
	c.must("AUTH PLAIN "+base64.StdEncoding.EncodeToString([]byte("bob\x00alice\x00password-alice")), "535 5.7.8")
	c.must("AUTH PLAIN", "334")
	c.must(base64.StdEncoding.EncodeToString([]byte("\x00alice\x00password-alice")), "235")
}

func TestDevLoopbackPlainAuth(t *testing.T) {
	e := newTestEnv(t, func(o *Options) { o.Dev = true })
	c := e.dial(false)
	if ehlo := c.must("EHLO client.example", "250"); !strings.Contains(ehlo, "AUTH PLAIN LOGIN") {
		t.Fatalf("dev mode on loopback: EHLO = %q", ehlo)
	}
	c.must(plainAuth("alice", "password-alice"), "235")
	c.must("MAIL FROM:<shop@x1.example.test>", "250")
	c.must("RCPT TO:<a@remote.test>", "250")
	if r := c.data(simpleMessage("shop@x1.example.test", "a@remote.test", "")); !strings.HasPrefix(r, "250") {
		t.Fatal(r)
	}
	qs := e.queued()
	if len(qs) != 1 || !strings.Contains(qs[0].body, "with ESMTPA id") {
		t.Fatalf("queued: %+v", qs)
	}
}

func TestMessageFixUps(t *testing.T) {
	now := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	m, err := parseMessage([]byte("From: a@x.example.test\r\nBCC: hidden@y.test\r\nSubject: s\r\n folded\r\n\r\nbody\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	from, sender, err := m.authorAddresses("a@x.example.test")
	if err != nil || len(from) != 1 || from[0] != "a@x.example.test" || sender != "" {
		t.Fatalf("authors = %v %q %v", from, sender, err)
	}
	m.fixUp(now, "x.example.test")
	out := string(m.bytes(nil))
	want := "From: a@x.example.test\r\nSubject: s\r\n folded\r\nDate: Wed, 04 Mar 2026 05:06:07 +0000\r\nMessage-ID: <20260304050607."
	if !strings.HasPrefix(out, want) || !strings.HasSuffix(out, "@x.example.test>\r\n\r\nbody\r\n") {
		t.Errorf("fixed-up message:\n%s", out)
	}
	for _, bad := range []string{
		"no colon here\r\n\r\n",
		" continuation first: x\r\n\r\n",
		"From: a@b.test\r\nno end of line",
		"Bad Name: x\r\n\r\n",
	} {
		if _, err := parseMessage([]byte(bad)); err == nil {
			t.Errorf("parseMessage accepted %q", bad)
		}
	}
	m, _ = parseMessage([]byte("From: a@x.test, b@x.test\r\n\r\n"))
	if _, _, err := m.authorAddresses("a@x.test"); err == nil || !strings.Contains(err.Error(), "Sender") {
		t.Errorf("two authors without Sender: %v", err)
	}
	if r := checkLines([]byte("a\rb\r\n")); r == nil {
		t.Error("bare CR accepted")
	}
	if r := checkLines(bytes.Repeat([]byte("x"), 999)); r == nil {
		t.Error("999-octet line accepted")
	}
}
