package smtpin

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cabalmail/cabalmail/internal/accounts"
	"github.com/cabalmail/cabalmail/internal/addresses"
	"github.com/cabalmail/cabalmail/internal/authres"
	"github.com/cabalmail/cabalmail/internal/blob"
	"github.com/cabalmail/cabalmail/internal/domains"
	"github.com/cabalmail/cabalmail/internal/mailbox"
	"github.com/cabalmail/cabalmail/internal/maillog"
	"github.com/cabalmail/cabalmail/internal/store"
	"github.com/cabalmail/cabalmail/internal/store/sqlite"
	"github.com/cabalmail/cabalmail/internal/tlsutil"
)

// faultyStore is the real SQLite store with a switch that makes the calls
// the MX tier depends on fail, as when the database is unreachable.
type faultyStore struct {
	store.Store
	down  atomic.Bool
	panic atomic.Bool // AddressByName panics, standing for a bug in our code
}

var errStoreDown = errors.New("test: store unavailable")

func (f *faultyStore) ListDomains(ctx context.Context) ([]store.Domain, error) {
	if f.down.Load() {
		return nil, errStoreDown
	}
	return f.Store.ListDomains(ctx)
}

func (f *faultyStore) AddressByName(ctx context.Context, a string) (store.Address, error) {
	if f.panic.Load() {
		panic("test: a bug while looking up " + a)
	}
	if f.down.Load() {
		return store.Address{}, errStoreDown
	}
	return f.Store.AddressByName(ctx, a)
}

func (f *faultyStore) AddMessages(ctx context.Context, msgs []store.NewMessage) ([]store.Added, error) {
	if f.down.Load() {
		return nil, errStoreDown
	}
	return f.Store.AddMessages(ctx, msgs)
}

// testEnv is a running MX tier on 127.0.0.1:0 over a throwaway data
// directory, with users alice and bob and some addresses.
type testEnv struct {
	t       testing.TB
	addr    string
	st      *faultyStore
	mb      *mailbox.Store
	blobs   *blob.Dir
	addrs   *addresses.Service
	users   map[string]int64
	mailLog *syncBuffer
	srv     *Server
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

const testApex = "example.test"

func newTestEnv(t testing.TB, tune func(*Options)) *testEnv {
	t.Helper()
	dir := t.TempDir()
	return startTestEnv(t, dir, true, tune)
}

// startTestEnv opens (seed: and fills) the data directory dir and starts
// a server on it; it stops when the test ends.
func startTestEnv(t testing.TB, dir string, seed bool, tune func(*Options)) *testEnv {
	t.Helper()
	ctx := context.Background()
	sq, err := sqlite.Open(ctx, filepath.Join(dir, "cabalmail.db"))
	if err != nil {
		t.Fatal(err)
	}
	st := &faultyStore{Store: sq}
	blobs, err := blob.OpenDir(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	mb, err := mailbox.Open(ctx, mailbox.Options{Store: st, Blobs: mailbox.BlobsOf(blobs), OwnsBlobs: true, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	e := &testEnv{t: t, st: st, mb: mb, blobs: blobs, users: map[string]int64{}, mailLog: &syncBuffer{}}
	e.addrs = addresses.New(st, addresses.Options{ControlDomain: "mail." + testApex})
	if seed {
		seedStore(t, st)
	}
	for _, name := range []string{"alice", "bob"} {
		if u, err := st.UserByName(ctx, name); err == nil {
			e.users[name] = u.ID
		}
	}
	certPath, keyPath := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := tlsutil.GenerateSelfSigned(certPath, keyPath, []string{"mx.example.test"}, time.Hour); err != nil {
		t.Fatal(err)
	}
	cert, err := tlsutil.Load(certPath, keyPath)
	if err != nil {
		t.Fatal(err)
	}
	opts := Options{
		Store:     st,
		Addresses: e.addrs,
		Mailboxes: mb,
		Auth:      authres.New(authres.Options{AuthServID: "mail." + testApex, Resolver: deadResolver(t), Timeout: 300 * time.Millisecond}),
		Hostname:  "mx.example.test",
		TLS:       cert,
		MailLog:   maillog.New(e.mailLog),
		Logger:    quietLogger(),
	}
	if tune != nil {
		tune(&opts)
	}
	e.srv, err = New(opts)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e.addr = l.Addr().String()
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- e.srv.ServeListeners(sctx, l) }()
	t.Cleanup(func() {
		cancel()
		<-done
		if err := mb.Close(); err != nil {
			t.Error(err)
		}
		if err := sq.Close(); err != nil {
			t.Error(err)
		}
	})
	return e
}

// seedStore adds the apex, users alice and bob, and their addresses.
func seedStore(t testing.TB, st store.Store) {
	t.Helper()
	ctx := context.Background()
	if _, err := domains.New(st, domains.Options{ControlDomain: "mail." + testApex}).Add(ctx, "operator", testApex); err != nil {
		t.Fatal(err)
	}
	acc := accounts.New(st)
	for _, name := range []string{"alice", "bob"} {
		if _, err := acc.Add(ctx, name, "password-"+name, false); err != nil {
			t.Fatal(err)
		}
	}
	addrs := addresses.New(st, addresses.Options{ControlDomain: "mail." + testApex})
	for _, a := range []struct {
		addr  string
		users []string
	}{
		{"shop@x1.example.test", []string{"alice"}},
		{"bank@x1.example.test", []string{"alice"}},
		{"family@home.example.test", []string{"alice", "bob"}},
		{"paused@x2.example.test", []string{"bob"}},
	} {
		if _, err := addrs.Create(ctx, addresses.Operator(), addresses.CreateRequest{Address: a.addr, Users: a.users}); err != nil {
			t.Fatal(err)
		}
	}
	if err := addrs.Suspend(ctx, addresses.Operator(), "paused@x2.example.test"); err != nil {
		t.Fatal(err)
	}
}

// inbox returns the raw messages in the user's INBOX, oldest first.
func (e *testEnv) inbox(user string) [][]byte {
	e.t.Helper()
	return readInbox(e.t, e.st, e.blobs, e.users[user])
}

func readInbox(t testing.TB, st store.Store, blobs *blob.Dir, userID int64) [][]byte {
	t.Helper()
	ctx := context.Background()
	m, err := st.MailboxByName(ctx, userID, mailbox.Inbox)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	err = st.ScanMessageData(ctx, userID, m.ID, nil, store.DataBlobKey, func(r store.MessageRow) error {
		keys = append(keys, r.BlobKey)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for _, k := range keys {
		r, err := blobs.Open(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(r)
		_ = r.Close()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// deadResolver is a UDP socket that never answers: every DNS look-up
// times out, as with a dead resolver.
func deadResolver(t testing.TB) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pc.Close() })
	return pc.LocalAddr().String()
}

func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

type authresChecker = authres.Checker

func newAuthresChecker(id, resolver string) *authres.Checker {
	return authres.New(authres.Options{AuthServID: id, Resolver: resolver, Timeout: 2 * time.Second})
}
