package submission

import (
	"bytes"
	"crypto/ed25519"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/cabalmail/cabalmail/internal/dkim"
)

// FuzzSubmitMessage drives the submission path of a message body as the
// client sends it: line checks, header parsing, the author checks, the
// fix-ups, rendering and DKIM signing. Whatever the input, nothing panics,
// a refused message gets a reply, and an accepted one comes out with no Bcc
// field, exactly one Date and Message-ID, and a header that parses again.
func FuzzSubmitMessage(f *testing.F) {
	f.Add([]byte("From: a@x.example.test\r\nBcc: b@y.test\r\n\r\nhi\r\n"))
	f.Add([]byte("From: \"A\" <a@x.example.test>, b@x.example.test\r\nSender: a@x.example.test\r\n\r\n"))
	f.Add([]byte("Subject: =?utf-8?q?hi?=\r\n folded\r\n\r\n\r\n.\r\n"))
	f.Add([]byte("From: a@x.example.test\r\nFrom: b@x.example.test\r\n\r\n"))
	f.Add([]byte("bare\nLF\r\n"))
	_, key, _ := ed25519.GenerateKey(bytes.NewReader(make([]byte, 64)))
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	f.Fuzz(func(t *testing.T, raw []byte) {
		msg, rerr := readMessage(bytes.NewReader(raw), 1<<20, new(bytes.Buffer))
		if rerr != nil {
			if rerr.code/100 != 5 {
				t.Fatalf("client's fault answered %d", rerr.code)
			}
			return
		}
		orig := append([]byte(nil), msg...)
		m, err := parseMessage(msg)
		if err != nil {
			return
		}
		// The fields and body are slices of msg: rendered as parsed,
		// the message is what came (with the blank line added when
		// there was no body), and msg is left untouched.
		want := orig
		if m.body == nil {
			want = append(want, "\r\n"...)
		}
		if got := m.bytes(nil); !bytes.Equal(got, want) {
			t.Fatalf("parsed and rendered:\n%q\nwant\n%q", got, want)
		}
		from, _, err := m.authorAddresses("env@x.example.test")
		if err != nil {
			return
		}
		if len(from) == 0 {
			t.Fatal("accepted authors without an address")
		}
		m.fixUp(now, "x.example.test")
		out := m.bytes(nil)
		if !bytes.Equal(msg, orig) {
			t.Fatal("the fix-ups wrote into the message read")
		}
		again, err := parseMessage(out)
		if err != nil {
			t.Fatalf("fixed-up message does not parse again: %v\n%q", err, out)
		}
		if len(again.get("bcc")) != 0 || len(again.get("date")) == 0 {
			t.Fatalf("fix-ups not applied:\n%q", out)
		}
		if len(again.get("message-id")) < 1 || len(again.get("from")) != 1 {
			t.Fatalf("Message-ID or From missing:\n%q", out)
		}
		var signed bytes.Buffer
		if err := dkim.Sign(&signed, bytes.NewReader(out), "x.example.test", "cabal", key); err != nil {
			t.Fatalf("sign a fixed-up message: %v\n%q", err, out)
		}
		if !strings.HasPrefix(signed.String(), "DKIM-Signature:") {
			t.Fatal("no signature in front")
		}
		_, _ = io.Copy(io.Discard, &signed)
	})
}
