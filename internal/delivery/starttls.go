package delivery

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"strings"
	"time"
)

// The go-smtp client offers STARTTLS only as "required" (NewClientStartTLS
// fails when the server does not offer it, and EHLOs as "localhost"). For
// opportunistic STARTTLS (RFC 3207) we speak the plain-text opening
// ourselves: greeting, EHLO, and STARTTLS when offered. The client then
// takes over the (possibly encrypted) connection; it expects a greeting
// first, so the server's greeting is replayed to it, and it sends EHLO
// again, which RFC 3207 4.2 requires after TLS anyway.

// greetingError is a non-220 greeting or a failed EHLO: the server
// answered, with code and text.
type greetingError struct {
	code int
	text string
}

func (e *greetingError) Error() string { return fmt.Sprintf("%d %s", e.code, e.text) }

// opening reads the greeting, says EHLO and, if want is set and the server
// offers it, starts TLS. It returns the connection for the SMTP client
// (with the greeting replayed) and whether TLS is on.
func opening(ctx context.Context, conn net.Conn, name string, want bool, conf *tls.Config, timeout time.Duration) (net.Conn, bool, error) {
	conn.SetDeadline(time.Now().Add(timeout))
	defer conn.SetDeadline(time.Time{})
	br := bufio.NewReader(conn)
	tp := textproto.NewReader(br)
	code, greet, err := tp.ReadResponse(0) // RFC 5321 4.5.3.2.1: the greeting
	if err != nil && code == 0 {
		return nil, false, err
	}
	if code != 220 {
		return nil, false, &greetingError{code, greet}
	}
	replay := "220 " + strings.ReplaceAll(greet, "\n", " ") + "\r\n"
	if !want {
		return &replayConn{Conn: conn, r: io.MultiReader(strings.NewReader(replay), br)}, false, nil
	}
	if _, err := fmt.Fprintf(conn, "EHLO %s\r\n", name); err != nil {
		return nil, false, err
	}
	code, ext, err := tp.ReadResponse(0)
	if err != nil && code == 0 {
		return nil, false, err
	}
	if code != 250 || !offers(ext, "STARTTLS") {
		// No EHLO or no STARTTLS: carry on in plain text; the client's
		// own EHLO starts afresh (RFC 5321 4.1.4 allows a second one).
		return &replayConn{Conn: conn, r: io.MultiReader(strings.NewReader(replay), br)}, false, nil
	}
	if _, err := fmt.Fprintf(conn, "STARTTLS\r\n"); err != nil {
		return nil, false, err
	}
	code, msg, err := tp.ReadResponse(220)
	if err != nil {
		if code != 0 {
			return nil, false, &tlsError{fmt.Errorf("STARTTLS refused: %d %s", code, msg)}
		}
		return nil, false, err
	}
	if br.Buffered() > 0 {
		// RFC 3207 5: nothing may follow the 220 before the handshake.
		return nil, false, &tlsError{fmt.Errorf("STARTTLS: server sent data before the handshake")}
	}
	tc := tls.Client(conn, conf)
	if err := tc.HandshakeContext(ctx); err != nil {
		return nil, false, &tlsError{err}
	}
	return &replayConn{Conn: tc, r: io.MultiReader(strings.NewReader(replay), tc)}, true, nil
}

// tlsError marks a failure of STARTTLS itself; an opportunistic sender
// retries in plain text.
type tlsError struct{ err error }

func (e *tlsError) Error() string { return e.err.Error() }
func (e *tlsError) Unwrap() error { return e.err }

// offers reports whether an EHLO reply lists the keyword.
func offers(ehlo, keyword string) bool {
	for _, line := range strings.Split(ehlo, "\n") {
		f := strings.Fields(line)
		if len(f) > 0 && strings.EqualFold(f[0], keyword) {
			return true
		}
	}
	return false
}

// replayConn reads from r (a replayed greeting, then the connection).
type replayConn struct {
	net.Conn
	r io.Reader
}

func (c *replayConn) Read(p []byte) (int, error) { return c.r.Read(p) }
