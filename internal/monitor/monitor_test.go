package monitor

import (
	"context"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cabalmail/cabalmail/internal/store/sqlite"
	dto "github.com/prometheus/client_model/go"
)

// serveGreeting answers every connection with an SMTP greeting, until ln
// is closed.
func serveGreeting(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		_, _ = c.Write([]byte("220 mx.example.test ESMTP\r\n"))
		_ = c.Close()
	}
}

func gauge(t *testing.T, g interface{ Write(*dto.Metric) error }) float64 {
	t.Helper()
	var m dto.Metric
	if err := g.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetGauge().GetValue()
}

// Stopping a listener makes its probe fail at once, and after two minutes
// of failure ProbeFailure is routed to ntfy and Pushover; bringing it back
// sends the resolved notice.
func TestProbeFailureRouted(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "cabalmail.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = st.Close() }()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	go serveGreeting(ln)

	sinks, srv := newFakeSinks(t)
	clock := &fakeClock{t: time.Date(2026, 11, 22, 7, 0, 0, 0, time.UTC)}
	probe := Probe{Tier: "smtp-in", Kind: KindSMTP, Target: addr}
	m := New(Options{Store: st, Probes: []Probe{probe}, Notifier: newTestNotifier(srv, clock), Now: clock.Now})
	success := probeSuccess.WithLabelValues(probe.Name())

	m.Round(ctx)
	if v := gauge(t, success); v != 1 {
		t.Fatalf("probe_success %v with the listener up", v)
	}
	_ = ln.Close()
	clock.Add(30 * time.Second)
	m.Round(ctx)
	if v := gauge(t, success); v != 0 {
		t.Fatalf("probe_success %v after stopping the listener", v)
	}
	if r := sinks.take(); len(r) != 0 {
		t.Fatalf("alert before two minutes of failure: %+v", r)
	}
	states, err := LoadProbeStates(ctx, st)
	if err != nil || len(states) != 1 || states[0].OK || !strings.Contains(states[0].LastError, "refused") {
		t.Fatalf("stored state %+v, %v", states, err)
	}
	clock.Add(2 * time.Minute)
	m.Round(ctx)
	reqs := sinks.take()
	if len(reqs) != 2 {
		t.Fatalf("after two minutes: %d requests, want ntfy and pushover", len(reqs))
	}
	for _, r := range reqs {
		if r.sink == "ntfy" && (r.header.Get("Priority") != "5" || r.header.Get("Title") != "[CRITICAL] ProbeFailure" ||
			!strings.HasSuffix(r.header.Get("Click"), "/docs/runbooks/ProbeFailure.md") || !strings.Contains(r.body, addr)) {
			t.Errorf("ntfy %+v", r)
		}
	}
	clock.Add(30 * time.Second)
	m.Round(ctx)
	if r := sinks.take(); len(r) != 0 {
		t.Errorf("repeated within 24 h: %+v", r)
	}

	ln2, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("cannot listen on %s again to test recovery: %v", addr, err)
	}
	defer func() { _ = ln2.Close() }()
	go serveGreeting(ln2)
	clock.Add(30 * time.Second)
	m.Round(ctx)
	if v := gauge(t, success); v != 1 {
		t.Errorf("probe_success %v after recovery", v)
	}
	reqs = sinks.take()
	if len(reqs) != 2 || !strings.HasPrefix(reqs[0].header.Get("Title")+reqs[1].header.Get("Title"), "[RESOLVED]") {
		t.Errorf("resolved notices %+v", reqs)
	}
}

func TestHeartbeatsAndQueue(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "cabalmail.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = st.Close() }()
	sinks, srv := newFakeSinks(t)
	clock := &fakeClock{t: time.Date(2026, 11, 22, 7, 0, 0, 0, time.UTC)}
	m := New(Options{Store: st, Heartbeats: []Heartbeat{{Job: "queue-runner", Period: time.Minute, Grace: 2 * time.Minute}},
		Notifier: newTestNotifier(srv, clock), Now: clock.Now})
	if err := RecordHeartbeat(ctx, st, "Bad Name", clock.Now()); err == nil {
		t.Error("bad job name accepted")
	}
	if err := RecordHeartbeat(ctx, st, "queue-runner", clock.Now()); err != nil {
		t.Fatal(err)
	}
	clock.Add(3 * time.Minute)
	m.Round(ctx)
	if r := sinks.take(); len(r) != 0 {
		t.Fatalf("alert at period plus grace exactly: %+v", r)
	}
	clock.Add(time.Second)
	m.Round(ctx)
	reqs := sinks.take()
	if len(reqs) != 1 || reqs[0].header.Get("Title") != "[WARNING] HeartbeatMissed" || reqs[0].header.Get("Priority") != "3" {
		t.Fatalf("heartbeat missed: %+v", reqs)
	}
	if v := gauge(t, heartbeatLast.WithLabelValues("queue-runner")); v != float64(clock.Now().Add(-3*time.Minute-time.Second).Unix()) {
		t.Errorf("last success gauge %v", v)
	}
	if err := RecordHeartbeat(ctx, st, "queue-runner", clock.Now()); err != nil {
		t.Fatal(err)
	}
	m.Round(ctx)
	if reqs := sinks.take(); len(reqs) != 1 || !strings.HasPrefix(reqs[0].header.Get("Title"), "[RESOLVED]") {
		t.Fatalf("heartbeat back: %+v", reqs)
	}
	if v := gauge(t, queueMessages.WithLabelValues("pending")); v != 0 {
		t.Errorf("queue pending %v", v)
	}
}
