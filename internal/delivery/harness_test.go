package delivery

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cabalmail/cabalmail/internal/accounts"
	"github.com/cabalmail/cabalmail/internal/addresses"
	"github.com/cabalmail/cabalmail/internal/blob"
	"github.com/cabalmail/cabalmail/internal/config"
	"github.com/cabalmail/cabalmail/internal/domains"
	"github.com/cabalmail/cabalmail/internal/mailbox"
	"github.com/cabalmail/cabalmail/internal/maillog"
	"github.com/cabalmail/cabalmail/internal/queue"
	"github.com/cabalmail/cabalmail/internal/store"
	"github.com/cabalmail/cabalmail/internal/store/sqlite"
)

// clock is a fake clock the tests move forward.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
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

type env struct {
	t       testing.TB
	st      store.Store
	q       *queue.Queue
	mb      *mailbox.Store
	addrs   *addresses.Service
	doms    *domains.Service
	clock   *clock
	mailLog *syncBuffer
	alice   int64
	runner  *Runner
	cancel  context.CancelFunc
	done    chan error
}

const apex = "example.test"

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// newEnv opens a store with one apex, a user alice holding
// alice@x1.example.test, a queue on a fake clock, and a runner whose routes
// send remote domains to relay.
func newEnv(t testing.TB, relay string, tune func(*Options)) *env {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	st, err := sqlite.Open(ctx, filepath.Join(dir, "cabalmail.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	blobs, err := blob.OpenDir(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	mb, err := mailbox.Open(ctx, mailbox.Options{Store: st, Blobs: mailbox.BlobsOf(blobs), Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mb.Close() })
	doms := domains.New(st, domains.Options{ControlDomain: "mail." + apex})
	if _, err := doms.Add(ctx, "operator", apex); err != nil {
		t.Fatal(err)
	}
	u, err := accounts.New(st).Add(ctx, "alice", "password-alice", false)
	if err != nil {
		t.Fatal(err)
	}
	addrs := addresses.New(st, addresses.Options{ControlDomain: "mail." + apex})
	for _, a := range []string{"alice@x1.example.test", "paused@x2.example.test"} {
		if _, err := addrs.Create(ctx, addresses.Operator(), addresses.CreateRequest{Address: a, Users: []string{"alice"}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := addrs.Suspend(ctx, addresses.Operator(), "paused@x2.example.test"); err != nil {
		t.Fatal(err)
	}
	clk := &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	q, err := queue.Open(ctx, queue.Options{Store: st, Blobs: blobs, Logger: quiet(), Now: clk.Now, Hostname: "smtp.mail.example.test"})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, st: st, q: q, mb: mb, addrs: addrs, doms: doms, clock: clk, mailLog: &syncBuffer{}, alice: u.ID}
	opts := Options{
		Queue: q, Mailboxes: mb, Addresses: addrs, Domains: doms, Hostname: "smtp.mail.example.test",
		MailLog: maillog.New(e.mailLog), Logger: quiet(), PollInterval: 10 * time.Millisecond,
		CommandTimeout: 5 * time.Second, ConnectTimeout: 2 * time.Second,
	}
	if relay != "" {
		opts.Routes = []config.Route{{Domain: "*", Relay: relay}}
	}
	if tune != nil {
		tune(&opts)
	}
	r, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	e.runner = r
	t.Cleanup(e.stop)
	return e
}

// start runs the runner until the test ends.
func (e *env) start() {
	rctx, cancel := context.WithCancel(context.Background())
	e.cancel, e.done = cancel, make(chan error, 1)
	go func() { e.done <- e.runner.Run(rctx) }()
}

func (e *env) stop() {
	if e.cancel == nil {
		return
	}
	e.cancel()
	if err := <-e.done; err != nil {
		e.t.Errorf("run: %v", err)
	}
	e.cancel = nil
}

func (e *env) enqueue(from string, rcpts ...string) string {
	e.t.Helper()
	msg := fmt.Sprintf("From: <%s>\r\nTo: <%s>\r\nSubject: test %d\r\nMessage-ID: <%d@x1.example.test>\r\n\r\nHello.\r\n",
		from, strings.Join(rcpts, ">, <"), time.Now().UnixNano(), time.Now().UnixNano())
	id, err := e.q.Enqueue(context.Background(), queue.Message{From: from, Recipients: rcpts, Body: strings.NewReader(msg), UserID: e.alice})
	if err != nil {
		e.t.Fatal(err)
	}
	return id
}

// waitEvents waits until the store holds at least n events and returns
// them, oldest first.
func (e *env) waitEvents(n int) []store.Event {
	e.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		evs, err := e.st.ListEvents(context.Background(), store.EventFilter{})
		if err != nil {
			e.t.Fatal(err)
		}
		if len(evs) >= n {
			for i, j := 0, len(evs)-1; i < j; i, j = i+1, j-1 {
				evs[i], evs[j] = evs[j], evs[i]
			}
			return evs
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("waited for %d events, have %d: %+v\nmail log:\n%s", n, len(evs), evs, e.mailLog.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// queueLen returns the number of queued items.
func (e *env) queueLen() int {
	e.t.Helper()
	items, err := e.q.List(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	return len(items)
}

// waitQueueLen waits until the queue holds n items.
func (e *env) waitQueueLen(n int) {
	e.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for e.queueLen() != n {
		if time.Now().After(deadline) {
			items, _ := e.q.List(context.Background())
			e.t.Fatalf("queue holds %d items, want %d: %+v", len(items), n, items)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (e *env) inboxCount(userID int64) uint32 {
	e.t.Helper()
	st, err := e.mb.Status(context.Background(), userID, mailbox.Inbox)
	if err != nil {
		e.t.Fatal(err)
	}
	return st.Messages
}
