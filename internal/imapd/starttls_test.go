package imapd

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// TestStartTLS upgrades a cleartext connection (RFC 3501 6.2.1), then
// logs in, selects and fetches over TLS, pausing between commands longer
// than the server reuses a response's write deadline for.
func TestStartTLS(t *testing.T) {
	e := startEnv(t, envOptions{starttls: true})
	r := e.dial()
	untagged := r.ok("CAPABILITY")
	if !strings.Contains(strings.Join(untagged, " "), "STARTTLS") {
		t.Fatalf("CAPABILITY without STARTTLS: %q", untagged)
	}
	time.Sleep(1100 * time.Millisecond)
	r.ok("STARTTLS")
	pem, err := os.ReadFile(e.certFile)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	tc := tls.Client(r.c, &tls.Config{RootCAs: roots, ServerName: "127.0.0.1"})
	tc.SetDeadline(time.Now().Add(30 * time.Second))
	if err := tc.Handshake(); err != nil {
		t.Fatalf("handshake: %v", err)
	}
	r.c, r.br = tc, bufio.NewReader(tc)
	r.ok(fmt.Sprintf("LOGIN %s %q", testUser, testPassword))
	time.Sleep(1100 * time.Millisecond)
	r.appendMsg("INBOX", `\Flagged`, "Subject: one\r\n\r\nbody\r\n")
	time.Sleep(1100 * time.Millisecond)
	r.ok("SELECT INBOX")
	time.Sleep(1100 * time.Millisecond)
	got := r.ok("FETCH 1 (FLAGS)")
	if len(got) != 1 || got[0] != `* 1 FETCH (FLAGS (\Flagged))` {
		t.Errorf("FETCH over TLS: %q", got)
	}
}
