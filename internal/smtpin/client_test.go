package smtpin

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

// rawClient speaks SMTP byte for byte, so tests can send what real clients
// would not (bare LF, pipelined batches, oversize lines).
type rawClient struct {
	t    *testing.T
	conn net.Conn
	r    *bufio.Reader
}

func dial(t *testing.T, addr string) *rawClient {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	rc := &rawClient{t: t, conn: c, r: bufio.NewReader(c)}
	rc.expect("220")
	return rc
}

// reply reads one (possibly multi-line) reply and returns its last line.
func (c *rawClient) reply() string {
	c.t.Helper()
	for {
		line, err := c.r.ReadString('\n')
		if err != nil {
			c.t.Fatalf("read reply: %v (got %q)", err, line)
		}
		line = strings.TrimRight(line, "\r\n")
		if len(line) < 4 || line[3] != '-' {
			return line
		}
	}
}

func (c *rawClient) send(s string) {
	c.t.Helper()
	if _, err := c.conn.Write([]byte(s)); err != nil {
		c.t.Fatal(err)
	}
}

// cmd sends one command line and returns the reply.
func (c *rawClient) cmd(format string, args ...any) string {
	c.t.Helper()
	c.send(fmt.Sprintf(format, args...) + "\r\n")
	return c.reply()
}

func (c *rawClient) expect(prefix string) string {
	c.t.Helper()
	got := c.reply()
	if !strings.HasPrefix(got, prefix) {
		c.t.Fatalf("want reply %q..., got %q", prefix, got)
	}
	return got
}

func (c *rawClient) must(prefix, format string, args ...any) string {
	c.t.Helper()
	got := c.cmd(format, args...)
	if !strings.HasPrefix(got, prefix) {
		c.t.Fatalf("%s: want %q..., got %q", fmt.Sprintf(format, args...), prefix, got)
	}
	return got
}

func (c *rawClient) ehlo() { c.t.Helper(); c.must("250", "EHLO client.example.net") }

// starttls upgrades the connection.
func (c *rawClient) starttls() {
	c.t.Helper()
	c.must("220", "STARTTLS")
	tc := tls.Client(c.conn, &tls.Config{InsecureSkipVerify: true, ServerName: "mx.example.test"})
	if err := tc.Handshake(); err != nil {
		c.t.Fatal(err)
	}
	c.conn = tc
	c.r = bufio.NewReader(tc)
}

// data sends DATA, the raw content (which must end with CRLF unless it is
// a test of bad endings) and the terminator, and returns the final reply.
func (c *rawClient) data(raw string) string {
	c.t.Helper()
	c.must("354", "DATA")
	c.send(raw + ".\r\n")
	return c.reply()
}

func testMessage(subject string) string {
	return "From: Sender <sender@remote.example>\r\nTo: someone\r\nSubject: " + subject +
		"\r\nMessage-ID: <" + subject + "@remote.example>\r\n\r\nHello.\r\n"
}
