package delivery

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// FuzzOpening plays arbitrary server bytes against the hand-written
// opening of a session (greeting, EHLO, STARTTLS, RFC 3207) and its EHLO
// keyword scan: neither may panic or hang, and a session may only go on
// after a 220 greeting.
func FuzzOpening(f *testing.F) {
	f.Add([]byte("220 mx.test ESMTP\r\n250-mx.test\r\n250-PIPELINING\r\n250 STARTTLS\r\n220 2.0.0 go ahead\r\n"))
	f.Add([]byte("220-mx.test first\r\n220 second\r\n250 mx.test\r\n"))
	f.Add([]byte("220 mx.test\r\n250-mx.test\r\n250 STARTTLS\r\n454 4.7.0 TLS not available\r\n"))
	f.Add([]byte("220 mx.test\r\n250-mx.test\r\n250 STARTTLS\r\n220 go\r\nEXTRA"))
	f.Add([]byte("554 5.7.1 go away\r\n"))
	f.Add([]byte("220 mx.test\r\n500 what\r\n"))
	f.Add([]byte("22"))
	f.Fuzz(func(t *testing.T, script []byte) {
		_ = offers(string(script), "STARTTLS")
		client, server := net.Pipe()
		defer client.Close()
		go func() {
			// Swallow what the client says, answer with the script, hang up.
			go func() { _, _ = io.Copy(io.Discard, server) }()
			_, _ = server.Write(script)
			server.Close()
		}()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		conf := &tls.Config{InsecureSkipVerify: true, ServerName: "mx.test"}
		cc, _, err := opening(ctx, client, "client.test", true, conf, time.Second)
		if err != nil {
			return
		}
		if !bytes.HasPrefix(script, []byte("220")) {
			t.Fatalf("opening accepted a session whose greeting is %q", script)
		}
		// The replayed greeting is one well-formed 220 line.
		buf := make([]byte, 4)
		if _, err := io.ReadFull(cc, buf); err != nil || string(buf) != "220 " {
			t.Fatalf("replayed greeting starts %q (%v)", buf, err)
		}
	})
}

func TestOffers(t *testing.T) {
	ehlo := "mx.test greets you\nPIPELINING\nstarttls\nSIZE 1000"
	for kw, want := range map[string]bool{"STARTTLS": true, "SIZE": true, "8BITMIME": false} {
		if got := offers(ehlo, kw); got != want {
			t.Errorf("offers(%q) = %v, want %v", kw, got, want)
		}
	}
	if offers(strings.Repeat("\n", 5), "STARTTLS") {
		t.Error("empty lines offer STARTTLS")
	}
}
