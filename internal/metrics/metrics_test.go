package metrics

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// start serves on a loopback port and returns its base URL and a stop
// function that cancels and waits for ServeListener to return.
func start(t *testing.T) (string, func() error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ServeListener(ctx, ln, nil) }()
	stopped := false
	stop := func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(10 * time.Second):
			return errors.New("ServeListener did not return after cancel")
		}
	}
	t.Cleanup(func() { _ = stop() })
	return "http://" + ln.Addr().String(), stop
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

func scrape(t *testing.T, base string) map[string]*dto.MetricFamily {
	t.Helper()
	code, body := get(t, base+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d", code)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return families
}

func labels(m *dto.Metric) map[string]string {
	out := map[string]string{}
	for _, lp := range m.GetLabel() {
		out[lp.GetName()] = lp.GetValue()
	}
	return out
}

func TestServeScrape(t *testing.T) {
	// A role's counter, registered the documented way.
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "cabalmail_test_events_total", Help: "Test events."})
	if err := Registerer("smtp-in").Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if !errors.As(err, &are) {
			t.Fatal(err)
		}
		c = are.ExistingCollector.(prometheus.Counter)
	}
	c.Add(3)

	base, stop := start(t)
	families := scrape(t, base)

	bi := families["cabalmail_build_info"]
	if bi == nil || len(bi.GetMetric()) != 1 {
		t.Fatalf("cabalmail_build_info missing: %v", bi)
	}
	m := bi.GetMetric()[0]
	if v := labels(m)["version"]; v == "" || v != Version() {
		t.Errorf("build_info version %q, want %q", v, Version())
	}
	if m.GetGauge().GetValue() != 1 {
		t.Errorf("build_info value %v", m.GetGauge().GetValue())
	}
	for _, name := range []string{"go_goroutines", "process_cpu_seconds_total", "promhttp_metric_handler_requests_total"} {
		if families[name] == nil {
			t.Errorf("%s missing", name)
		}
	}
	ev := families["cabalmail_test_events_total"]
	if ev == nil || len(ev.GetMetric()) != 1 {
		t.Fatalf("role counter missing: %v", ev)
	}
	if l := labels(ev.GetMetric()[0]); l["tier"] != "smtp-in" || ev.GetMetric()[0].GetCounter().GetValue() < 3 {
		t.Errorf("role counter: labels %v, value %v", l, ev.GetMetric()[0].GetCounter().GetValue())
	}

	if code, body := get(t, base+"/healthz"); code != http.StatusOK || body != "ok\n" {
		t.Errorf("/healthz: %d %q", code, body)
	}
	if code, _ := get(t, base+"/nope"); code != http.StatusNotFound {
		t.Errorf("/nope: %d", code)
	}

	if err := stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	conn, err := net.DialTimeout("tcp", strings.TrimPrefix(base, "http://"), time.Second)
	if err == nil {
		_ = conn.Close()
		t.Error("still accepting connections after cancel")
	}
}

// A second tier registering the same metric name gets its own series.
func TestTiersShareNames(t *testing.T) {
	for _, tier := range []string{"imap", "web"} {
		g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "cabalmail_test_sessions", Help: "Test sessions."})
		if err := Registerer(tier).Register(g); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				t.Fatalf("%s: %v", tier, err)
			}
		}
	}
	base, _ := start(t)
	f := scrape(t, base)["cabalmail_test_sessions"]
	tiers := map[string]bool{}
	for _, m := range f.GetMetric() {
		tiers[labels(m)["tier"]] = true
	}
	if !tiers["imap"] || !tiers["web"] || len(tiers) != 2 {
		t.Errorf("tiers %v, want imap and web", tiers)
	}
}

func TestServeErrors(t *testing.T) {
	ctx := context.Background()
	if err := Serve(ctx, "127.0.0.1:notaport", nil); err == nil || !strings.Contains(err.Error(), "metrics: listen") {
		t.Errorf("bad address: %v", err)
	}
	// A listener that fails makes ServeListener return its error at once.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_ = ln.Close()
	done := make(chan error, 1)
	go func() { done <- ServeListener(ctx, ln, nil) }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "metrics: serve") {
			t.Errorf("closed listener: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("ServeListener kept running on a closed listener")
	}
}

func TestServeStopsOnCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, "127.0.0.1:0", nil) }()
	time.Sleep(50 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve after cancel: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not stop")
	}
}
