package providers

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cabalmail/cabalmail/internal/queue"
	"github.com/cabalmail/cabalmail/internal/store"
	"github.com/cabalmail/cabalmail/internal/store/sqlite"
)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func openStore(t testing.TB, path string) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func newTracker(t testing.TB) (*Tracker, *sqlite.Store, *clock) {
	t.Helper()
	st := openStore(t, filepath.Join(t.TempDir(), "meta.db"))
	clk := &clock{t: time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)}
	tr, err := New(Options{Store: st, Now: clk.now, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return tr, st, clk
}

func work(id string, user int64) queue.Work {
	return queue.Work{ID: id, Sender: "me@x1.example.test", UserID: user}
}

func sent(rcpt, relay string) queue.Outcome {
	return queue.Outcome{Rcpt: rcpt, Kind: queue.Delivered, DSN: "2.0.0", Reply: "250 2.0.0 ok", Remote: true, Relay: relay}
}

func unknown(rcpt, relay string) queue.Outcome {
	return queue.Outcome{Rcpt: rcpt, Kind: queue.Failed, DSN: "5.1.1", Reply: "550 5.1.1 <" + rcpt + ">: user unknown", Remote: true, Relay: relay}
}

func TestProviderOf(t *testing.T) {
	for _, c := range []struct{ host, rcpt, want string }{
		{"gmail-smtp-in.l.google.com", "a@gmail.com", "google.com"},
		{"alt1.gmail-smtp-in.l.google.com.", "a@googlemail.com", "google.com"},
		{"example-com.mail.protection.outlook.com", "a@example.com", "outlook.com"},
		{"mx1.mail.example.co.uk", "a@example.co.uk", "example.co.uk"},
		{"MX.Example.ORG", "", "example.org"},
		{"127.0.0.1", "a@remote.test", "127.0.0.1"},
		{"[::1]", "a@remote.test", "::1"},
		{"", "a@Mail.Yahoo.com", "yahoo.com"},
		{"localhost", "", "localhost"},
		{"", "", ""},
	} {
		if got := ProviderOf(c.host, c.rcpt); got != c.want {
			t.Errorf("ProviderOf(%q, %q) = %q, want %q", c.host, c.rcpt, got, c.want)
		}
	}
}

func TestNewOptions(t *testing.T) {
	st := openStore(t, filepath.Join(t.TempDir(), "meta.db"))
	for _, o := range []Options{
		{},
		{Store: st, MinReplies: -1},
		{Store: st, MinShare: 1.5},
		{Store: st, Window: time.Second},
		{Store: st, Window: time.Hour, SuspectFor: time.Minute},
	} {
		if _, err := New(o); err == nil {
			t.Errorf("New(%+v) accepted", o)
		}
	}
	tr, err := New(Options{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	if o := tr.Options(); o.MinReplies != 3 || o.MinShare != 0.5 || o.Window != 30*time.Minute || o.SuspectFor != 24*time.Hour {
		t.Fatalf("defaults: %+v", o)
	}
}

func TestUnknownRecipientAtHealthyProviderIsSuppressed(t *testing.T) {
	tr, st, _ := newTracker(t)
	ctx := context.Background()
	// The provider is busy and healthy.
	for i := range 10 {
		tr.Judge(ctx, work("q0", 1), sent(fmt.Sprintf("u%d@example.com", i), "mx.example.com"))
	}
	d := tr.Judge(ctx, work("q1", 1), unknown("typo@example.com", "mx.example.com"))
	if d.Action != Suppress || d.Provider != "example.com" {
		t.Fatalf("decision %+v, want suppress at example.com", d)
	}
	e, ok, err := Suppressed(ctx, st, 1, "Typo@Example.com")
	if err != nil || !ok {
		t.Fatalf("suppressed: %v %v", ok, err)
	}
	if e.Code != "5.1.1" || e.Reason != "recipient-unknown" || e.QueueID != "q1" || !strings.Contains(e.Text, "user unknown") {
		t.Fatalf("entry %+v", e)
	}
	if _, ok, _ := Suppressed(ctx, st, 2, "typo@example.com"); ok {
		t.Fatal("suppressed for another user")
	}
	if txt := RefusalText(e); !strings.Contains(txt, "since 2026-03-01T10:00:00Z") || !strings.Contains(txt, "recipient-unknown") {
		t.Fatalf("refusal text %q", txt)
	}
	// Other failures are not suppressed.
	full := queue.Outcome{Rcpt: "full@example.com", Kind: queue.Failed, DSN: "5.2.2", Reply: "552 5.2.2 mailbox full", Remote: true, Relay: "mx.example.com"}
	if d := tr.Judge(ctx, work("q2", 1), full); d.Action != AsUsual || d.Category != "mailbox-full" {
		t.Fatalf("mailbox full: %+v", d)
	}
}

func TestKnownRecipientIsVerifiedOnce(t *testing.T) {
	tr, st, clk := newTracker(t)
	ctx := context.Background()
	for i := range 10 {
		tr.Judge(ctx, work("q0", 1), sent(fmt.Sprintf("u%d@example.com", i), "mx.example.com"))
	}
	clk.add(time.Minute)
	if d := tr.Judge(ctx, work("q1", 1), unknown("u1@example.com", "mx.example.com")); d.Action != Quarantine {
		t.Fatalf("first bounce of a known recipient: %+v, want quarantine", d)
	}
	if _, ok, _ := Suppressed(ctx, st, 1, "u1@example.com"); ok {
		t.Fatal("suppressed after one reply")
	}
	clk.add(5 * time.Minute)
	if d := tr.Judge(ctx, work("q1", 1), unknown("u1@example.com", "mx.example.com")); d.Action != Suppress {
		t.Fatalf("second bounce: %+v, want suppress", d)
	}
	all, _ := st.ListQuarantine(ctx, "", false)
	if len(all) != 1 || all[0].Resolution != "suppressed" {
		t.Fatalf("quarantine history %+v", all)
	}
}

// outage plays a provider that took mail from n recipients and then
// answers 5.1.1 for all of them, 31 minutes later.
func outage(t *testing.T, tr *Tracker, clk *clock, n int) []Decision {
	t.Helper()
	ctx := context.Background()
	for i := range n {
		tr.Judge(ctx, work(fmt.Sprintf("a%02d", i), 1), sent(fmt.Sprintf("u%d@example.net", i), "mx1.provider.example"))
	}
	clk.add(31 * time.Minute)
	var ds []Decision
	for i := range n {
		ds = append(ds, tr.Judge(ctx, work(fmt.Sprintf("b%02d", i), 1), unknown(fmt.Sprintf("u%d@example.net", i), "mx2.provider.example")))
	}
	return ds
}

func TestOutageTurnsProviderSuspect(t *testing.T) {
	tr, st, clk := newTracker(t)
	ctx := context.Background()
	ds := outage(t, tr, clk, 20)
	for i, d := range ds {
		if d.Action != Quarantine {
			t.Fatalf("bounce %d: %+v, want quarantine", i, d)
		}
	}
	p, err := st.ProviderByName(ctx, "provider.example")
	if err != nil || p.State != store.ProviderSuspect || !p.Until.Equal(clk.now().Add(24*time.Hour)) {
		t.Fatalf("provider %+v, %v", p, err)
	}
	if sup, _ := st.ListSuppressions(ctx, store.SuppressionFilter{}); len(sup) != 0 {
		t.Fatalf("suppressed during an outage: %+v", sup)
	}
	qs, _ := tr.Quarantined(ctx, "provider.example")
	if len(qs) != 20 {
		t.Fatalf("%d quarantined, want 20", len(qs))
	}
	// A genuine unknown recipient elsewhere is still suppressed.
	if d := tr.Judge(ctx, work("c1", 1), unknown("nobody@other.org", "mx.other.org")); d.Action != Suppress {
		t.Fatalf("healthy provider: %+v", d)
	}
	// Restart: a new tracker on a reopened store sees the same state.
	st2 := openStore(t, st.Path())
	tr2, err := New(Options{Store: st2, Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	if d := tr2.Judge(ctx, work("b00", 1), unknown("u0@example.net", "mx1.provider.example")); d.Action != Quarantine {
		t.Fatalf("after restart: %+v", d)
	}
	// One success while the rate is still over the threshold: still suspect.
	tr2.Judge(ctx, work("b01", 1), sent("u1@example.net", "mx1.provider.example"))
	if p, _ := st2.ProviderByName(ctx, "provider.example"); p.State != store.ProviderSuspect {
		t.Fatalf("recovered too early: %+v", p)
	}
	// The window moves past the bounces: the next success ends it, and
	// the recipients that accept mail are cleared.
	clk.add(31 * time.Minute)
	for i := range 20 {
		tr2.Judge(ctx, work(fmt.Sprintf("b%02d", i), 1), sent(fmt.Sprintf("u%d@example.net", i), "mx1.provider.example"))
	}
	if p, _ := st2.ProviderByName(ctx, "provider.example"); p.State != store.ProviderHealthy || !strings.HasPrefix(p.Reason, "recovered") {
		t.Fatalf("after recovery: %+v", p)
	}
	if qs, _ := tr2.Quarantined(ctx, ""); len(qs) != 0 {
		t.Fatalf("still quarantined: %+v", qs)
	}
}

func TestBelowThresholdStaysHealthy(t *testing.T) {
	tr, st, clk := newTracker(t)
	ctx := context.Background()
	// 2 known-recipient bounces out of 2 attempts: under the minimum of 3.
	ds := outage(t, tr, clk, 2)
	if p, err := st.ProviderByName(ctx, "provider.example"); err == nil {
		t.Fatalf("provider marked: %+v", p)
	}
	for _, d := range ds {
		if d.Action != Quarantine || !strings.Contains(d.Reason, "verifying") {
			t.Fatalf("decision %+v, want a verifying quarantine", d)
		}
	}
	// 3 of 7 in the window: under half.
	tr2, st2, clk2 := newTracker(t)
	for i := range 7 {
		tr2.Judge(ctx, work("a", 1), sent(fmt.Sprintf("u%d@example.net", i), "mx.provider.example"))
	}
	clk2.add(time.Minute)
	for i := range 3 {
		tr2.Judge(ctx, work("b", 1), unknown(fmt.Sprintf("u%d@example.net", i), "mx.provider.example"))
	}
	if p, err := st2.ProviderByName(ctx, "provider.example"); err == nil {
		t.Fatalf("3 of 10 made it %+v", p)
	}
}

func TestSuspectLapses(t *testing.T) {
	tr, st, clk := newTracker(t)
	ctx := context.Background()
	outage(t, tr, clk, 4)
	clk.add(24 * time.Hour)
	if d := tr.Judge(ctx, work("z", 1), unknown("new@example.net", "mx.provider.example")); d.Action != Suppress {
		t.Fatalf("after the suspect period: %+v, want suppress", d)
	}
	if p, _ := st.ProviderByName(ctx, "provider.example"); p.State != store.ProviderHealthy {
		t.Fatalf("state %+v", p)
	}
}

func enqueue(t *testing.T, st store.Store, ids ...string) {
	t.Helper()
	var items []*store.QueueItem
	for _, id := range ids {
		items = append(items, &store.QueueItem{ID: id, BlobKey: "k" + id, Sender: "me@x1.example.test",
			NextAttempt: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC), Recipients: []store.QueueRecipient{{Rcpt: "r@example.net"}}})
	}
	if err := st.EnqueueItems(context.Background(), items); err != nil {
		t.Fatal(err)
	}
}

func TestConfirm(t *testing.T) {
	tr, st, clk := newTracker(t)
	ctx := context.Background()
	enqueue(t, st, "b00", "b01", "b02", "b03")
	outage(t, tr, clk, 4)
	if _, err := tr.Confirm(ctx, "nobody.example", "operator"); err == nil {
		t.Fatal("confirm of an unknown provider accepted")
	}
	n, err := tr.Confirm(ctx, "Provider.Example", "operator")
	if err != nil || n != 4 {
		t.Fatalf("confirm: %d, %v", n, err)
	}
	it, _ := st.QueueItem(ctx, "b00")
	if !it.NextAttempt.Equal(clk.now()) {
		t.Fatalf("queued message due at %s, want now %s", it.NextAttempt, clk.now())
	}
	// The retried messages now fail and suppress.
	if d := tr.Judge(ctx, work("b00", 1), unknown("u0@example.net", "mx.provider.example")); d.Action != Suppress {
		t.Fatalf("after confirm: %+v", d)
	}
	audit, _ := st.ListAudit(ctx, 1)
	if len(audit) != 1 || audit[0].Action != "provider.confirm" || audit[0].Target != "provider.example" {
		t.Fatalf("audit %+v", audit)
	}
}

func TestClear(t *testing.T) {
	tr, st, clk := newTracker(t)
	ctx := context.Background()
	enqueue(t, st, "b00", "b01", "b02")
	outage(t, tr, clk, 3)
	clk.add(time.Minute)
	n, err := tr.Clear(ctx, "provider.example", "operator")
	if err != nil || n != 3 {
		t.Fatalf("clear: %d, %v", n, err)
	}
	if qs, _ := tr.Quarantined(ctx, ""); len(qs) != 0 {
		t.Fatalf("still quarantined %+v", qs)
	}
	if it, _ := st.QueueItem(ctx, "b01"); !it.NextAttempt.Equal(clk.now()) {
		t.Fatalf("not retried: %s", it.NextAttempt)
	}
	// Earlier replies no longer count: one more is a verifying quarantine,
	// not a suspect provider.
	clk.add(time.Second)
	if d := tr.Judge(ctx, work("b00", 1), unknown("u0@example.net", "mx.provider.example")); d.Action != Quarantine || !strings.Contains(d.Reason, "verifying") {
		t.Fatalf("after clear: %+v", d)
	}
	if p, _ := st.ProviderByName(ctx, "provider.example"); p.State != store.ProviderHealthy {
		t.Fatalf("state %+v", p)
	}
}

func TestApplyRewritesQuarantined(t *testing.T) {
	tr, st, clk := newTracker(t)
	ctx := context.Background()
	var first []queue.Result
	for i := range 5 {
		first = append(first, queue.Result{Work: work(fmt.Sprintf("a%d", i), 1), Outcomes: []queue.Outcome{sent(fmt.Sprintf("u%d@example.net", i), "mx.provider.example")}})
	}
	tr.Apply(ctx, first)
	if c, _ := st.ProviderCounts(ctx, "provider.example", clk.now().Add(-time.Minute)); c.Sent != 5 {
		t.Fatalf("counts %+v", c)
	}
	clk.add(31 * time.Minute)
	var res []queue.Result
	for i := range 5 {
		res = append(res, queue.Result{Work: work(fmt.Sprintf("b%d", i), 1), Outcomes: []queue.Outcome{
			unknown(fmt.Sprintf("u%d@example.net", i), "mx.provider.example"),
			{Rcpt: "local@x1.example.test", Kind: queue.Delivered, DSN: "2.0.0"}, // local: not counted
		}})
	}
	res = append(res, queue.Result{Work: work("c", 1), Outcomes: []queue.Outcome{unknown("typo@other.org", "mx.other.org")}})
	tr.Apply(ctx, res)
	for _, r := range res[:5] {
		o := r.Outcomes[0]
		if o.Kind != queue.Deferred || o.DSN != "4.1.1" || !strings.HasPrefix(o.Reply, "quarantined (") || !strings.HasSuffix(o.Reply, "user unknown") {
			t.Fatalf("outcome %+v, want a deferral", o)
		}
		if r.Outcomes[1].Kind != queue.Delivered {
			t.Fatalf("local outcome changed: %+v", r.Outcomes[1])
		}
	}
	if o := res[5].Outcomes[0]; o.Kind != queue.Failed || o.DSN != "5.1.1" {
		t.Fatalf("healthy provider's bounce changed: %+v", o)
	}
}

func TestCollectorBoundsProviders(t *testing.T) {
	tr, _, clk := newTracker(t)
	ctx := context.Background()
	outage(t, tr, clk, 3)
	for i := range 14 {
		for j := 0; j <= i; j++ {
			tr.Judge(ctx, work("a", 1), sent(fmt.Sprintf("u%d@p%d.example", j, i), fmt.Sprintf("mx.p%02d.example", i)))
		}
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(tr.Collector())
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	values := map[string]map[string]float64{} // metric name -> provider(/result) -> value
	for _, mf := range mfs {
		values[mf.GetName()] = map[string]float64{}
		for _, m := range mf.GetMetric() {
			key := ""
			for _, l := range m.GetLabel() {
				if key != "" {
					key += "/"
				}
				key += l.GetValue()
			}
			values[mf.GetName()][key] = m.GetGauge().GetValue()
		}
	}
	suspect := values["cabalmail_provider_suspect"]
	if len(suspect) != TopProviders+1 {
		t.Fatalf("suspect series %v: want the top %d and other", suspect, TopProviders)
	}
	if suspect["provider.example"] != 1 || suspect["p13.example"] != 0 || suspect["p05.example"] != 0 {
		t.Fatalf("suspect %v", suspect)
	}
	if _, ok := suspect["p04.example"]; ok {
		t.Fatalf("p04 has its own series: %v", suspect)
	}
	// p00..p04 summed under other: 1+2+3+4+5 deliveries.
	if got := values["cabalmail_provider_attempts"]["other/sent"]; got != 15 {
		t.Fatalf("other sent = %v, want 15", got)
	}
	if got := values["cabalmail_provider_known_unknown"]["provider.example"]; got != 3 {
		t.Fatalf("known unknown = %v, want 3", got)
	}
	if got := values["cabalmail_provider_quarantined"]["provider.example"]; got != 3 {
		t.Fatalf("quarantined = %v, want 3", got)
	}
}
