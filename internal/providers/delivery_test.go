// These tests drive the real delivery runner, queue and store against the
// test SMTP server, with the provider tracker hooked into the runner.

package providers_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cabalmail/cabalmail/internal/accounts"
	"github.com/cabalmail/cabalmail/internal/addresses"
	"github.com/cabalmail/cabalmail/internal/blob"
	"github.com/cabalmail/cabalmail/internal/config"
	"github.com/cabalmail/cabalmail/internal/delivery"
	"github.com/cabalmail/cabalmail/internal/domains"
	"github.com/cabalmail/cabalmail/internal/mailbox"
	"github.com/cabalmail/cabalmail/internal/maillog"
	"github.com/cabalmail/cabalmail/internal/providers"
	"github.com/cabalmail/cabalmail/internal/queue"
	"github.com/cabalmail/cabalmail/internal/smtptest"
	"github.com/cabalmail/cabalmail/internal/store"
	"github.com/cabalmail/cabalmail/internal/store/sqlite"
)

// These tests run the real delivery runner, queue and store against the
// outbound test fixture (internal/smtptest) playing a provider.

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// node is one smtp-out process: its own store handle, queue, tracker and
// runner over a shared data directory.
type node struct {
	t       *testing.T
	st      *sqlite.Store
	q       *queue.Queue
	mb      *mailbox.Store
	tr      *providers.Tracker
	runner  *delivery.Runner
	mailLog *syncBuffer
	cancel  context.CancelFunc
	done    chan error
}

const sender = "alice@x1.example.test"

// setup creates the data directory: one apex, user alice holding
// alice@x1.example.test. It returns the directory and alice's ID.
func setup(t *testing.T) (string, int64) {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	st, err := sqlite.Open(ctx, filepath.Join(dir, "cabalmail.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := domains.New(st, domains.Options{ControlDomain: "mail.example.test"}).Add(ctx, "operator", "example.test"); err != nil {
		t.Fatal(err)
	}
	u, err := accounts.New(st).Add(ctx, "alice", "password-alice", false)
	if err != nil {
		t.Fatal(err)
	}
	addrs := addresses.New(st, addresses.Options{ControlDomain: "mail.example.test"})
	if _, err := addrs.Create(ctx, addresses.Operator(), addresses.CreateRequest{Address: sender, Users: []string{"alice"}}); err != nil {
		t.Fatal(err)
	}
	return dir, u.ID
}

// start opens a node on dir whose route sends every remote domain to relay.
func start(t *testing.T, dir string, clk *fakeClock, relay string) *node {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(dir, "cabalmail.db"))
	if err != nil {
		t.Fatal(err)
	}
	blobs, err := blob.OpenDir(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	mb, err := mailbox.Open(ctx, mailbox.Options{Store: st, Blobs: mailbox.BlobsOf(blobs), Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	q, err := queue.Open(ctx, queue.Options{Store: st, Blobs: blobs, Logger: quiet(), Now: clk.Now, Hostname: "smtp.mail.example.test"})
	if err != nil {
		t.Fatal(err)
	}
	tr, err := providers.New(providers.Options{Store: st, Now: clk.Now, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	n := &node{t: t, st: st, q: q, mb: mb, tr: tr, mailLog: &syncBuffer{}}
	n.runner, err = delivery.New(delivery.Options{
		Queue: q, Mailboxes: mb, Addresses: addresses.New(st, addresses.Options{ControlDomain: "mail.example.test"}),
		Domains: domains.New(st, domains.Options{ControlDomain: "mail.example.test"}),
		Routes:  []config.Route{{Domain: "*", Relay: relay}}, Hostname: "smtp.mail.example.test",
		MailLog: maillog.New(n.mailLog), Logger: quiet(), Now: clk.Now, PollInterval: 10 * time.Millisecond,
		CommandTimeout: 5 * time.Second, ConnectTimeout: 2 * time.Second,
		Providers: tr,
	})
	if err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithCancel(context.Background())
	n.cancel, n.done = cancel, make(chan error, 1)
	go func() { n.done <- n.runner.Run(rctx) }()
	t.Cleanup(n.stop)
	return n
}

// stop ends the process: runner, mailboxes and store closed.
func (n *node) stop() {
	if n.cancel == nil {
		return
	}
	n.cancel()
	if err := <-n.done; err != nil {
		n.t.Errorf("run: %v", err)
	}
	n.cancel = nil
	n.mb.Close()
	if err := n.st.Close(); err != nil {
		n.t.Error(err)
	}
}

func (n *node) enqueue(userID int64, rcpt string) {
	n.t.Helper()
	msg := fmt.Sprintf("From: <%s>\r\nTo: <%s>\r\nSubject: hello\r\n\r\nHello.\r\n", sender, rcpt)
	if _, err := n.q.Enqueue(context.Background(), queue.Message{From: sender, Recipients: []string{rcpt}, Body: strings.NewReader(msg), UserID: userID}); err != nil {
		n.t.Fatal(err)
	}
}

// waitFor polls cond for up to 20 seconds.
func (n *node) waitFor(what string, cond func() bool) {
	n.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			items, _ := n.q.List(context.Background())
			n.t.Fatalf("timed out waiting for %s; queue: %+v\nmail log:\n%s", what, items, n.mailLog.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (n *node) queued() []queue.Item {
	n.t.Helper()
	items, err := n.q.List(context.Background())
	if err != nil {
		n.t.Fatal(err)
	}
	return items
}

func (n *node) events(status string) int {
	n.t.Helper()
	evs, err := n.st.ListEvents(context.Background(), store.EventFilter{})
	if err != nil {
		n.t.Fatal(err)
	}
	c := 0
	for _, e := range evs {
		if e.Status == status {
			c++
		}
	}
	return c
}

func (n *node) inbox(userID int64) uint32 {
	n.t.Helper()
	st, err := n.mb.Status(context.Background(), userID, mailbox.Inbox)
	if err != nil {
		n.t.Fatal(err)
	}
	return st.Messages
}

func (n *node) provider(name string) providers.Summary {
	n.t.Helper()
	sums, err := n.tr.Summaries(context.Background(), time.Time{})
	if err != nil {
		n.t.Fatal(err)
	}
	for _, s := range sums {
		if s.Provider == name {
			return s
		}
	}
	n.t.Fatalf("provider %s not in %+v", name, sums)
	return providers.Summary{}
}

// gaugeValue gathers the tracker's metrics and returns one gauge.
func gaugeValue(t *testing.T, tr *providers.Tracker, name, provider string) float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(tr.Collector())
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "provider" && l.GetValue() == provider {
					return m.GetGauge().GetValue()
				}
			}
		}
	}
	t.Fatalf("no %s{provider=%q}", name, provider)
	return 0
}

// The provider accepts 20 messages and then answers 5.1.1 for everyone:
// it turns suspect, nobody is suppressed, no failure DSN is sent, the
// alert's series say so; a restart in the middle loses nothing; when the
// provider recovers every message is delivered.
func TestProviderOutageThroughTheRunner(t *testing.T) {
	dir, alice := setup(t)
	clk := &fakeClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	fixture, err := smtptest.Start(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer fixture.Close()
	const provider = "127.0.0.1" // the relay, named by its address
	var rcpts []string
	for i := range 20 {
		rcpts = append(rcpts, fmt.Sprintf("u%02d@bigmail.test", i))
	}

	n := start(t, dir, clk, fixture.Addr)
	for _, r := range rcpts {
		n.enqueue(alice, r)
	}
	if got := fixture.WaitMessages(20, 20*time.Second); len(got) != 20 {
		t.Fatalf("fixture accepted %d messages, want 20", len(got))
	}
	n.waitFor("the first 20 to leave the queue", func() bool { return len(n.queued()) == 0 })

	// Half an hour later the provider says none of them exists.
	clk.Add(31 * time.Minute)
	fixture.Reject(rcpts...)
	for _, r := range rcpts {
		n.enqueue(alice, r)
	}
	n.waitFor("20 deferrals", func() bool { return n.events("Deferred") == 20 })
	if p := n.provider(provider); p.State != store.ProviderSuspect || p.Quarantined != 20 || p.KnownUnknown != 20 {
		t.Fatalf("provider %+v, want suspect with 20 quarantined", p)
	}
	if got := gaugeValue(t, n.tr, "cabalmail_provider_suspect", provider); got != 1 {
		t.Fatalf("cabalmail_provider_suspect = %v, want 1 (ProviderBounceAnomaly fires)", got)
	}
	if sup, err := n.st.ListSuppressions(context.Background(), store.SuppressionFilter{}); err != nil || len(sup) != 0 {
		t.Fatalf("suppressed during the outage: %+v %v", sup, err)
	}
	items := n.queued()
	if len(items) != 20 {
		t.Fatalf("%d queued, want the 20 held messages", len(items))
	}
	for _, it := range items {
		if it.IsDSN || it.Recipients[0].State != store.RecipientPending || it.Recipients[0].LastDSN != "4.1.1" ||
			!strings.HasPrefix(it.Recipients[0].LastError, "quarantined (") {
			t.Fatalf("held message %+v", it)
		}
	}
	if n.events("Bounced") != 0 || n.inbox(alice) != 0 {
		t.Fatalf("a failure was recorded or a DSN delivered: bounced %d, alice's inbox %d", n.events("Bounced"), n.inbox(alice))
	}
	if log := n.mailLog.String(); strings.Contains(log, "stat=User unknown") || !strings.Contains(log, "stat=Deferred: quarantined (") {
		t.Fatalf("mail log:\n%s", log)
	}

	// Restart in the middle: the process goes away; what a new one reads
	// from the store is the same state.
	n.stop()
	st, err := sqlite.Open(context.Background(), filepath.Join(dir, "cabalmail.db"))
	if err != nil {
		t.Fatal(err)
	}
	tr, err := providers.New(providers.Options{Store: st, Now: clk.Now, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	qs, err := tr.Quarantined(context.Background(), provider)
	if err != nil || len(qs) != 20 {
		t.Fatalf("after restart: %d quarantined, %v", len(qs), err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	// The provider recovers (a fresh fixture: same address, another port).
	recovered, err := smtptest.Start(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer recovered.Close()
	clk.Add(31 * time.Minute) // past the retry backoff and the window
	n2 := start(t, dir, clk, recovered.Addr)
	got := recovered.WaitMessages(20, 20*time.Second)
	if len(got) != 20 {
		t.Fatalf("after recovery the fixture got %d messages, want 20", len(got))
	}
	n2.waitFor("the held messages to leave the queue", func() bool { return len(n2.queued()) == 0 })
	seen := map[string]bool{}
	for _, m := range got {
		for _, r := range m.Recipients {
			seen[r] = true
		}
	}
	for _, r := range rcpts {
		if !seen[r] {
			t.Errorf("%s never got its second message", r)
		}
	}
	if p := n2.provider(provider); p.State != store.ProviderHealthy || p.Quarantined != 0 {
		t.Fatalf("after recovery: %+v", p)
	}
	if sup, _ := n2.st.ListSuppressions(context.Background(), store.SuppressionFilter{}); len(sup) != 0 {
		t.Fatalf("suppressed: %+v", sup)
	}
	if n2.events("Bounced") != 0 || n2.inbox(alice) != 0 {
		t.Fatalf("bounced %d, alice's inbox %d: want no failure and no DSN", n2.events("Bounced"), n2.inbox(alice))
	}
}

// A genuine unknown recipient at a healthy provider still fails with a
// DSN and is suppressed.
func TestUnknownRecipientAtHealthyProviderThroughTheRunner(t *testing.T) {
	dir, alice := setup(t)
	clk := &fakeClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	fixture, err := smtptest.Start(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer fixture.Close()
	fixture.Reject("typo@healthy.test")
	n := start(t, dir, clk, fixture.Addr)
	for i := range 5 {
		n.enqueue(alice, fmt.Sprintf("friend%d@healthy.test", i))
	}
	n.enqueue(alice, "typo@healthy.test")
	fixture.WaitMessages(5, 20*time.Second)
	n.waitFor("the failure DSN in alice's inbox", func() bool { return len(n.queued()) == 0 && n.inbox(alice) == 1 })
	if n.events("Bounced") != 1 {
		t.Fatalf("%d bounced events, want 1", n.events("Bounced"))
	}
	e, ok, err := providers.Suppressed(context.Background(), n.st, alice, "typo@healthy.test")
	if err != nil || !ok {
		t.Fatalf("not suppressed: %v %v", ok, err)
	}
	if e.Code != "5.1.1" || e.Reason != "recipient-unknown" || e.Provider != "127.0.0.1" || !strings.Contains(e.Text, "no such user here") {
		t.Fatalf("suppression %+v", e)
	}
	if log := n.mailLog.String(); !strings.Contains(log, "to=<typo@healthy.test>") || !strings.Contains(log, "stat=User unknown") {
		t.Fatalf("mail log:\n%s", log)
	}
}
