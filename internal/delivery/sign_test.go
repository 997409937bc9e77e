package delivery

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	msgauth "github.com/emersion/go-msgauth/dkim"

	"github.com/cabalmail/cabalmail/internal/dkim"
	"github.com/cabalmail/cabalmail/internal/mailbox"
	"github.com/cabalmail/cabalmail/internal/queue"
)

// enqueueSigned queues a message from alice to be DKIM-signed for
// signDomain on its way out.
func (e *env) enqueueSigned(signDomain string, rcpts ...string) string {
	e.t.Helper()
	msg := "From: Alice <alice@x1.example.test>\r\nTo: <" + strings.Join(rcpts, ">, <") + ">\r\nSubject: signed\r\n\r\nHello.\r\n"
	id, err := e.q.Enqueue(context.Background(), queue.Message{From: "alice@x1.example.test", Recipients: rcpts,
		Body: strings.NewReader(msg), UserID: e.alice, SignDomain: signDomain})
	if err != nil {
		e.t.Fatal(err)
	}
	return id
}

// TestSignsOnTheWayOut: a message queued with a signing domain reaches a
// remote host with a DKIM-Signature that verifies against the apex key
// published for that domain; the hosted recipient's copy is stored as
// queued, unsigned.
func TestSignsOnTheWayOut(t *testing.T) {
	srv := startFixture(t)
	e := newEnv(t, srv.Addr, nil)
	e.start()
	e.enqueueSigned("x1.example.test", "bob@remote.test", "carol@other.test", "alice@x1.example.test")
	msgs := srv.WaitMessages(2, 10*time.Second)
	if len(msgs) != 2 {
		t.Fatalf("fixture got %d messages, want one per remote domain; mail log:\n%s", len(msgs), e.mailLog.String())
	}
	sd, err := e.doms.SigningDomain(context.Background(), "x1.example.test")
	if err != nil {
		t.Fatal(err)
	}
	txt, err := dkim.TXTRecord(sd.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		if !bytes.HasPrefix(m.Data, []byte("DKIM-Signature: ")) {
			t.Fatalf("sent message does not start with a DKIM-Signature:\n%s", m.Data)
		}
		vs, err := msgauth.VerifyWithOptions(bytes.NewReader(m.Data), &msgauth.VerifyOptions{
			LookupTXT: func(name string) ([]string, error) {
				if name != "cabal._domainkey.x1.example.test" {
					return nil, fmt.Errorf("looked up %s", name)
				}
				return []string{txt}, nil
			},
		})
		if err != nil || len(vs) != 1 || vs[0].Err != nil || vs[0].Domain != "x1.example.test" {
			t.Fatalf("verify: %v %+v", err, vs)
		}
	}
	e.waitQueueLen(0)
	v, err := e.mb.Select(context.Background(), e.alice, mailbox.Inbox)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	if uids := v.UIDs(); len(uids) != 1 {
		t.Fatalf("alice's INBOX has %d messages, want 1", len(uids))
	}
	r, err := v.OpenBody(context.Background(), v.UIDs()[0])
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	local, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(local, []byte("DKIM-Signature")) || !bytes.Contains(local, []byte("Subject: signed")) {
		t.Errorf("local copy:\n%s", local)
	}
}

// TestSigningFailureDefers: when the signing domain has no key (its apex
// was removed while the message was queued) the remote recipients are
// deferred with 4.3.0, never sent unsigned and never bounced at once.
func TestSigningFailureDefers(t *testing.T) {
	srv := startFixture(t)
	e := newEnv(t, srv.Addr, nil)
	e.start()
	id := e.enqueueSigned("x1.gone.test", "bob@remote.test")
	evs := e.waitEvents(1)
	if evs[0].QueueID != id || evs[0].Status != "Deferred" || evs[0].DSN != "4.3.0" {
		t.Fatalf("event %+v, want Deferred 4.3.0", evs[0])
	}
	if log := e.mailLog.String(); !strings.Contains(log, "DKIM signing failed") {
		t.Errorf("mail log does not say why:\n%s", log)
	}
	if n := len(srv.Messages()); n != 0 {
		t.Errorf("fixture got %d messages, want none unsigned", n)
	}
	if e.queueLen() != 1 {
		t.Errorf("the message left the queue")
	}
}
