package metrics

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/cabalmail/cabalmail/internal/maillog"
	dto "github.com/prometheus/client_model/go"
)

func TestClassifyMailEvent(t *testing.T) {
	for _, tc := range []struct {
		tier, dsn, stat string
		outcome, class  string
	}{
		{"smtp-out", "2.0.0", "Sent", StatSent, "2"},
		{"smtp-in", "2.0.0", "Sent", StatSent, "2"},
		{"smtp-out", "4.7.1", "Deferred", StatDeferred, "4"},
		{"smtp-in", "4.3.0", "Deferred", StatDeferred, "4"},
		{"smtp-out", "5.1.1", "User unknown", StatBounced, "5"},
		{"smtp-out", "5.7.1", "Bounced", StatBounced, "5"},
		{"smtp-in", "5.1.1", "User unknown", StatRejected, "5"},
		{"smtp-in", "5.7.1", "Relaying denied", StatRejected, "5"},
		{"smtp-out", "", "Sent", StatSent, "2"},
		{"smtp-out", "", "Deferred", StatDeferred, "4"},
		{"smtp-out", "", "Service unavailable", StatBounced, "5"},
		{"smtp-out", "x.1.1", "Deferred", StatDeferred, "4"}, // a broken DSN falls back to the phrase
		{"smtp-out", "3.0.0", "Sent", StatSent, "2"},
	} {
		o, c := ClassifyMailEvent(tc.tier, tc.dsn, tc.stat)
		if o != tc.outcome || c != tc.class {
			t.Errorf("%s %q %q: got %s/%s, want %s/%s", tc.tier, tc.dsn, tc.stat, o, c, tc.outcome, tc.class)
		}
	}
}

// Every line written through a Writer observed by CountMailEvent adds
// exactly one to exactly one series.
func TestCountMailEventThroughWriter(t *testing.T) {
	Registry()
	before := func(tier, stat, class string) float64 {
		var m dto.Metric
		if err := mailEvents.WithLabelValues(tier, stat, class).Write(&m); err != nil {
			t.Fatal(err)
		}
		return m.GetCounter().GetValue()
	}
	type key struct{ tier, stat, class string }
	keys := []key{{"smtp-out", "sent", "2"}, {"smtp-out", "deferred", "4"}, {"smtp-out", "bounced", "5"},
		{"smtp-in", "sent", "2"}, {"smtp-in", "rejected", "5"}, {"other", "bounced", "5"}}
	start := map[key]float64{}
	for _, k := range keys {
		start[k] = before(k.tier, k.stat, k.class)
	}
	var sb strings.Builder
	w := maillog.New(&sb)
	w.Observe(CountMailEvent)
	for _, e := range []maillog.Entry{
		{Tier: "smtp-out", QueueID: "a", DSN: "2.0.0", Stat: "Sent"},
		{Tier: "smtp-out", QueueID: "a", DSN: "2.0.0", Stat: "Sent"},
		{Tier: "smtp-out", QueueID: "b", DSN: "4.4.1", Stat: "Deferred"},
		{Tier: "smtp-out", QueueID: "c", DSN: "5.1.1", Stat: "User unknown"},
		{Tier: "smtp-in", QueueID: "d", DSN: "2.0.0", Stat: "Sent"},
		{Tier: "smtp-in", QueueID: "e", DSN: "5.1.1", Stat: "User unknown"},
		{Tier: "smtp-in", QueueID: "f", DSN: "5.2.1", Stat: "Mailbox disabled"},
		{Tier: "made-up", QueueID: "g", DSN: "5.0.0", Stat: "Bounced"},
	} {
		if err := w.Log(e); err != nil {
			t.Fatal(err)
		}
	}
	want := map[key]float64{{"smtp-out", "sent", "2"}: 2, {"smtp-out", "deferred", "4"}: 1, {"smtp-out", "bounced", "5"}: 1,
		{"smtp-in", "sent", "2"}: 1, {"smtp-in", "rejected", "5"}: 2, {"other", "bounced", "5"}: 1}
	for _, k := range keys {
		if got := before(k.tier, k.stat, k.class) - start[k]; got != want[k] {
			t.Errorf("%v: +%v, want +%v", k, got, want[k])
		}
	}
}

func TestSharedSeriesExported(t *testing.T) {
	AuthFailure("imap")
	Connections("web").Set(3)
	base, _ := start(t)
	f := scrape(t, base)
	ev := f["cabalmail_mail_events_total"]
	if ev == nil {
		t.Fatal("cabalmail_mail_events_total missing")
	}
	// The zero series the alert rules sum over exist from the start.
	found := map[string]bool{}
	for _, m := range ev.GetMetric() {
		l := labels(m)
		found[l["tier"]+"/"+l["stat"]+"/"+l["dsn_class"]] = true
	}
	for _, k := range []string{"smtp-in/sent/2", "smtp-in/deferred/4", "smtp-in/rejected/5", "smtp-out/sent/2", "smtp-out/deferred/4", "smtp-out/bounced/5"} {
		if !found[k] {
			t.Errorf("series %s missing", k)
		}
	}
	if af := f["cabalmail_auth_failures_total"]; af == nil || len(af.GetMetric()) < 3 {
		t.Errorf("cabalmail_auth_failures_total: %v", af)
	}
	c := f["cabalmail_connections"]
	if c == nil || labels(c.GetMetric()[0])["tier"] != "web" || c.GetMetric()[0].GetGauge().GetValue() != 3 {
		t.Errorf("cabalmail_connections: %v", c)
	}
}

func TestReadyz(t *testing.T) {
	base, _ := start(t)
	if code, body := get(t, base+"/readyz"); code != http.StatusOK || body != "ok\n" {
		t.Errorf("no checks: %d %q", code, body)
	}
	removeStore := AddReadyCheck("store", func(context.Context) error { return nil })
	removeLn := AddReadyCheck("listener imap 127.0.0.1:2993", func(context.Context) error {
		return errors.New("connection refused")
	})
	hang := AddReadyCheck("hang", func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() })
	code, body := get(t, base+"/readyz")
	if code != http.StatusServiceUnavailable ||
		!strings.Contains(body, "listener imap 127.0.0.1:2993: connection refused\n") ||
		!strings.Contains(body, "hang: ") || strings.Contains(body, "store") {
		t.Errorf("failing checks: %d %q", code, body)
	}
	removeLn()
	hang()
	if code, body := get(t, base+"/readyz"); code != http.StatusOK {
		t.Errorf("after removing the failing checks: %d %q", code, body)
	}
	removeStore()
}
