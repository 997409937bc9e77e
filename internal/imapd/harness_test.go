package imapd

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cabalmail/cabalmail/internal/accounts"
	"github.com/cabalmail/cabalmail/internal/blob"
	"github.com/cabalmail/cabalmail/internal/mailbox"
	"github.com/cabalmail/cabalmail/internal/store/sqlite"
	"github.com/cabalmail/cabalmail/internal/tlsutil"
)

const (
	testUser     = "alice"
	testPassword = "correct horse battery staple"
)

// testEnv is a running server on a throwaway data directory.
type testEnv struct {
	t     testing.TB
	dir   string
	addr  string
	srv   *Server
	boxes *mailbox.Store
	// accStore is the metadata store the server's accounts read.
	accStore *sqlite.Store
	userID   int64
	dbPath   string
	blobDir  string
	// certFile is the server's self-signed certificate (PEM) when the env
	// was started with tls; addr then speaks implicit TLS.
	certFile string
	// starttls: addr speaks cleartext and offers STARTTLS with certFile.
	starttls bool
}

type envOptions struct {
	maxConnsPerIP, maxConnsPerUser int
	appendLimit                    int64
	logger                         *slog.Logger // nil: discard
	// tls serves implicit TLS (port 993 style) with a self-signed
	// certificate for 127.0.0.1 and localhost.
	tls bool
	// starttls serves cleartext with STARTTLS, with the same certificate.
	starttls bool
}

// openMailboxes opens a mailbox store on the env's database and blobs; a
// second call gives a second, independent store, as another process would
// have.
func openMailboxes(t testing.TB, dbPath, blobDir string) *mailbox.Store {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, dbPath)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	blobs, err := blob.OpenDir(blobDir)
	if err != nil {
		t.Fatalf("open blobs: %v", err)
	}
	boxes, err := mailbox.Open(ctx, mailbox.Options{Store: st, Blobs: blobAdapter{blobs}, PollInterval: 100 * time.Millisecond})
	if err != nil {
		t.Fatalf("open mailboxes: %v", err)
	}
	t.Cleanup(func() { boxes.Close() })
	return boxes
}

func startEnv(t testing.TB, eo envOptions) *testEnv {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	dir := t.TempDir()
	e := &testEnv{t: t, dir: dir, dbPath: filepath.Join(dir, "meta.db"), blobDir: filepath.Join(dir, "blobs"), starttls: eo.starttls}
	st, err := sqlite.Open(ctx, e.dbPath)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	e.accStore = st
	acc := accounts.New(st)
	u, err := acc.Add(ctx, testUser, testPassword, false)
	if err != nil {
		t.Fatalf("add user: %v", err)
	}
	e.userID = u.ID
	e.boxes = openMailboxes(t, e.dbPath, e.blobDir)
	if eo.logger == nil {
		eo.logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	var tlsConfig *tls.Config
	if eo.tls || eo.starttls {
		e.certFile = filepath.Join(dir, "cert.pem")
		keyFile := filepath.Join(dir, "key.pem")
		if err := tlsutil.GenerateSelfSigned(e.certFile, keyFile, []string{"127.0.0.1", "localhost"}, 24*time.Hour); err != nil {
			t.Fatal(err)
		}
		if tlsConfig, err = tlsutil.Load(e.certFile, keyFile); err != nil {
			t.Fatal(err)
		}
	}
	srv, err := New(Options{
		Mailboxes: e.boxes, Accounts: acc, InsecureAuthOnLoopback: true, TLS: tlsConfig,
		MaxConnsPerIP: eo.maxConnsPerIP, MaxConnsPerUser: eo.maxConnsPerUser, AppendLimit: eo.appendLimit,
		Logger: eo.logger,
	})
	if err != nil {
		t.Fatal(err)
	}
	e.srv = srv
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e.addr = ln.Addr().String()
	done := make(chan error, 1)
	go func() { done <- srv.ServeListener(ctx, ln, eo.tls) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("ServeListener: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("ServeListener did not return after cancel")
		}
	})
	return e
}

// blobAdapter adapts blob.Dir, whose Open returns a blob.Reader, to
// mailbox.BlobStore, whose Open returns an io.ReadCloser.
type blobAdapter struct{ *blob.Dir }

func (d blobAdapter) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	return d.Dir.Open(ctx, key)
}

// rawConn is a line-level IMAP client for checking exact responses.
type rawConn struct {
	t    testing.TB
	c    net.Conn
	br   *bufio.Reader
	next int
}

func (e *testEnv) dial() *rawConn {
	e.t.Helper()
	c, err := net.Dial("tcp", e.addr)
	if err != nil {
		e.t.Fatal(err)
	}
	if e.certFile != "" && !e.starttls {
		pem, err := os.ReadFile(e.certFile)
		if err != nil {
			e.t.Fatal(err)
		}
		roots := x509.NewCertPool()
		roots.AppendCertsFromPEM(pem)
		c = tls.Client(c, &tls.Config{RootCAs: roots, ServerName: "127.0.0.1"})
	}
	e.t.Cleanup(func() { c.Close() })
	r := &rawConn{t: e.t, c: c, br: bufio.NewReader(c)}
	c.SetDeadline(time.Now().Add(30 * time.Second))
	if l := r.line(); !strings.HasPrefix(l, "* OK") {
		e.t.Fatalf("greeting %q", l)
	}
	return r
}

func (e *testEnv) login() *rawConn {
	r := e.dial()
	r.ok(fmt.Sprintf("LOGIN %s %q", testUser, testPassword))
	return r
}

// line reads one response line, with any literals inlined.
func (r *rawConn) line() string {
	r.t.Helper()
	var sb strings.Builder
	for {
		l, err := r.br.ReadString('\n')
		if err != nil {
			r.t.Fatalf("read: %v (so far %q)", err, sb.String()+l)
		}
		sb.WriteString(l)
		trimmed := strings.TrimRight(l, "\r\n")
		if strings.HasSuffix(trimmed, "}") {
			if i := strings.LastIndexByte(trimmed, '{'); i >= 0 {
				if n, err := strconv.Atoi(trimmed[i+1 : len(trimmed)-1]); err == nil {
					buf := make([]byte, n)
					if _, err := io.ReadFull(r.br, buf); err != nil {
						r.t.Fatalf("read literal: %v", err)
					}
					sb.Write(buf)
					continue
				}
			}
		}
		return strings.TrimRight(sb.String(), "\r\n")
	}
}

// cmd sends a command and returns its untagged lines and the tagged status.
func (r *rawConn) cmd(command string) (untagged []string, status string) {
	r.t.Helper()
	r.next++
	tag := fmt.Sprintf("t%d", r.next)
	r.send(tag + " " + command + "\r\n")
	return r.readUntil(tag)
}

func (r *rawConn) send(s string) {
	r.t.Helper()
	if _, err := io.WriteString(r.c, s); err != nil {
		r.t.Fatalf("write: %v", err)
	}
}

func (r *rawConn) readUntil(tag string) (untagged []string, status string) {
	r.t.Helper()
	for {
		l := r.line()
		if strings.HasPrefix(l, tag+" ") {
			return untagged, strings.TrimPrefix(l, tag+" ")
		}
		untagged = append(untagged, l)
	}
}

// ok runs a command that must succeed and returns its untagged lines.
func (r *rawConn) ok(command string) []string {
	r.t.Helper()
	u, st := r.cmd(command)
	if !strings.HasPrefix(st, "OK") {
		r.t.Fatalf("%s: %s (untagged %q)", command, st, u)
	}
	return u
}

// appendMsg APPENDs a message with a synchronizing literal and returns the
// APPENDUID status.
func (r *rawConn) appendMsg(mbox, flags, msg string) string {
	r.t.Helper()
	r.next++
	tag := fmt.Sprintf("t%d", r.next)
	r.send(fmt.Sprintf("%s APPEND %s (%s) {%d}\r\n", tag, mbox, flags, len(msg)))
	if l := r.line(); !strings.HasPrefix(l, "+") {
		r.t.Fatalf("APPEND: no continuation: %q", l)
	}
	r.send(msg + "\r\n")
	_, st := r.readUntil(tag)
	if !strings.HasPrefix(st, "OK") {
		r.t.Fatalf("APPEND: %s", st)
	}
	return st
}

func hasLine(lines []string, want string) bool {
	for _, l := range lines {
		if l == want {
			return true
		}
	}
	return false
}
