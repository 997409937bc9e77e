package submission

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cabalmail/cabalmail/internal/accounts"
	"github.com/cabalmail/cabalmail/internal/addresses"
	"github.com/cabalmail/cabalmail/internal/blob"
	"github.com/cabalmail/cabalmail/internal/domains"
	"github.com/cabalmail/cabalmail/internal/queue"
	"github.com/cabalmail/cabalmail/internal/store/sqlite"
	"github.com/cabalmail/cabalmail/internal/tlsutil"
)

// faultyBlobs is the real blob directory with a switch that makes storing
// fail, as with a full or broken disk.
type faultyBlobs struct {
	*blob.Dir
	down atomic.Bool
}

func (f *faultyBlobs) Put(ctx context.Context, r io.Reader) (string, int64, error) {
	if f.down.Load() {
		return "", 0, errors.New("test: disk unavailable")
	}
	return f.Dir.Put(ctx, r)
}

// PutPending and SyncPending fail alike: the queue writes bodies with the
// first and makes them durable, as a group, with the second.
func (f *faultyBlobs) PutPending(ctx context.Context, r io.Reader) (*blob.Pending, error) {
	if f.down.Load() {
		return nil, errors.New("test: disk unavailable")
	}
	return f.Dir.PutPending(ctx, r)
}

func (f *faultyBlobs) SyncPending(ctx context.Context, ps []*blob.Pending) error {
	if f.down.Load() {
		return errors.New("test: disk unavailable")
	}
	return f.Dir.SyncPending(ctx, ps)
}

// testEnv is a running submission server on 127.0.0.1:0 (one STARTTLS and
// one implicit-TLS listener) over a throwaway data directory and the real
// queue, with users alice and bob and some addresses.
type testEnv struct {
	t        testing.TB
	addr     string       // STARTTLS
	ln       net.Listener // the STARTTLS listener
	tlsAddr  string       // implicit TLS
	q        *queue.Queue
	blobs    *faultyBlobs
	domains  *domains.Service
	srv      *Server
	hostname string
	store    *sqlite.Store
	certPath string // the server's self-signed certificate (PEM)
	addrs    *addresses.Service
}

const testApex = "example.test"

func newTestEnv(t testing.TB, tune func(*Options)) *testEnv {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	st, err := sqlite.Open(ctx, filepath.Join(dir, "cabalmail.db"))
	if err != nil {
		t.Fatal(err)
	}
	bd, err := blob.OpenDir(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	e := &testEnv{t: t, blobs: &faultyBlobs{Dir: bd}, hostname: "smtp.mail.example.test", store: st}
	e.q, err = queue.Open(ctx, queue.Options{Store: st, Blobs: e.blobs, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	e.domains = domains.New(st, domains.Options{ControlDomain: "mail." + testApex, Selector: "cabal"})
	if _, err := e.domains.Add(ctx, "operator", testApex); err != nil {
		t.Fatal(err)
	}
	acc := accounts.New(st)
	for _, name := range []string{"alice", "bob"} {
		if _, err := acc.Add(ctx, name, "password-"+name, false); err != nil {
			t.Fatal(err)
		}
	}
	addrs := addresses.New(st, addresses.Options{ControlDomain: "mail." + testApex})
	e.addrs = addrs
	for addr, users := range map[string][]string{
		"shop@x1.example.test":     {"alice"},
		"family@home.example.test": {"alice", "bob"},
		"paused@x2.example.test":   {"alice"},
		"bobs@b1.example.test":     {"bob"},
	} {
		if _, err := addrs.Create(ctx, addresses.Operator(), addresses.CreateRequest{Address: addr, Users: users}); err != nil {
			t.Fatal(err)
		}
	}
	if err := addrs.Suspend(ctx, addresses.Operator(), "paused@x2.example.test"); err != nil {
		t.Fatal(err)
	}
	certPath, keyPath := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := tlsutil.GenerateSelfSigned(certPath, keyPath, []string{e.hostname}, time.Hour); err != nil {
		t.Fatal(err)
	}
	e.certPath = certPath
	cert, err := tlsutil.Load(certPath, keyPath)
	if err != nil {
		t.Fatal(err)
	}
	opts := Options{
		Store:            st,
		Accounts:         acc,
		Domains:          e.domains,
		Queue:            e.q,
		Hostname:         e.hostname,
		TLS:              cert,
		AuthFailureDelay: 10 * time.Millisecond,
		Logger:           quietLogger(),
	}
	if tune != nil {
		tune(&opts)
	}
	e.srv, err = New(opts)
	if err != nil {
		t.Fatal(err)
	}
	l1, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l2, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e.addr, e.tlsAddr = l1.Addr().String(), l2.Addr().String()
	e.ln = l1
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- e.srv.ServeListeners(sctx, []net.Listener{l1}, []net.Listener{l2}) }()
	t.Cleanup(func() {
		cancel()
		<-done
		if err := st.Close(); err != nil {
			t.Error(err)
		}
	})
	return e
}

// queued claims every queued message and returns them with their bodies.
func (e *testEnv) queued() []queuedMessage {
	e.t.Helper()
	ctx := context.Background()
	ws, err := e.q.Claim(ctx, "test", time.Minute, 1000)
	if err != nil {
		e.t.Fatal(err)
	}
	var out []queuedMessage
	for _, w := range ws {
		r, err := e.q.Body(ctx, w)
		if err != nil {
			e.t.Fatal(err)
		}
		b, err := io.ReadAll(r)
		_ = r.Close()
		if err != nil {
			e.t.Fatal(err)
		}
		out = append(out, queuedMessage{w, string(b)})
	}
	return out
}

type queuedMessage struct {
	queue.Work
	body string
}

// client is a raw SMTP client that shows every reply exactly.
type client struct {
	t    testing.TB
	conn net.Conn
	r    *bufio.Reader
}

func (e *testEnv) dial(implicitTLS bool) *client {
	e.t.Helper()
	var c net.Conn
	var err error
	if implicitTLS {
		c, err = tls.Dial("tcp", e.tlsAddr, &tls.Config{InsecureSkipVerify: true})
	} else {
		c, err = net.Dial("tcp", e.addr)
	}
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { _ = c.Close() })
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	cl := &client{t: e.t, conn: c, r: bufio.NewReader(c)}
	cl.expect("220")
	return cl
}

// reply reads one (possibly multi-line) reply and returns it whole.
func (c *client) reply() string {
	c.t.Helper()
	var lines []string
	for {
		line, err := c.r.ReadString('\n')
		if err != nil {
			c.t.Fatalf("read reply: %v (so far %q)", err, lines)
		}
		lines = append(lines, strings.TrimRight(line, "\r\n"))
		if len(line) < 4 || line[3] != '-' {
			return strings.Join(lines, "\n")
		}
	}
}

func (c *client) send(line string) {
	c.t.Helper()
	if _, err := io.WriteString(c.conn, line+"\r\n"); err != nil {
		c.t.Fatal(err)
	}
}

// cmd sends a line and returns the reply.
func (c *client) cmd(line string) string {
	c.t.Helper()
	c.send(line)
	return c.reply()
}

func (c *client) expect(prefix string) string {
	c.t.Helper()
	r := c.reply()
	if !strings.HasPrefix(r, prefix) {
		c.t.Fatalf("reply %q, want %s", r, prefix)
	}
	return r
}

func (c *client) must(line, prefix string) string {
	c.t.Helper()
	c.send(line)
	return c.expect(prefix)
}

// startTLS upgrades the connection.
func (c *client) startTLS() {
	c.t.Helper()
	c.must("STARTTLS", "220")
	tc := tls.Client(c.conn, &tls.Config{InsecureSkipVerify: true})
	if err := tc.Handshake(); err != nil {
		c.t.Fatal(err)
	}
	c.conn, c.r = tc, bufio.NewReader(tc)
}

func plainAuth(user, pass string) string {
	return "AUTH PLAIN " + base64.StdEncoding.EncodeToString([]byte("\x00"+user+"\x00"+pass))
}

// login dials, secures and authenticates as user.
func (e *testEnv) login(user string) *client {
	e.t.Helper()
	c := e.dial(false)
	c.must("EHLO client.example", "250")
	c.startTLS()
	c.must("EHLO client.example", "250")
	c.must(plainAuth(user, "password-"+user), "235 2.0.0")
	return c
}

// data sends DATA and the message (dot-stuffed) and returns the reply.
func (c *client) data(msg string) string {
	c.t.Helper()
	c.must("DATA", "354")
	var b strings.Builder
	for _, line := range strings.SplitAfter(msg, "\r\n") {
		if strings.HasPrefix(line, ".") {
			b.WriteString(".")
		}
		b.WriteString(line)
	}
	if !strings.HasSuffix(msg, "\r\n") {
		b.WriteString("\r\n")
	}
	b.WriteString(".\r\n")
	if _, err := io.WriteString(c.conn, b.String()); err != nil {
		c.t.Fatal(err)
	}
	return c.reply()
}

func simpleMessage(from, to, extra string) string {
	return fmt.Sprintf("From: Alice <%s>\r\nTo: <%s>\r\nSubject: hello\r\n%s\r\nHello there.\r\n", from, to, extra)
}

func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}
