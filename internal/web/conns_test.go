package web

import (
	"net"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/cabalmail/cabalmail/internal/metrics"
)

// TestConnectionsGauge: every accepted connection counts in
// cabalmail_connections{tier="web"} until it is closed.
func TestConnectionsGauge(t *testing.T) {
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := limitListener(raw, 4)
	defer ln.Close()
	gauge := metrics.Connections("web")
	before := gaugeValue(t, gauge)

	client, err := net.Dial("tcp", raw.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	if got := gaugeValue(t, gauge); got != before+1 {
		t.Fatalf("open connections = %v, want %v", got, before+1)
	}
	server.Close()
	server.Close() // a second Close must not count twice
	if got := gaugeValue(t, gauge); got != before {
		t.Fatalf("after close, open connections = %v, want %v", got, before)
	}
}

func gaugeValue(t *testing.T, g prometheus.Gauge) float64 {
	t.Helper()
	var m dto.Metric
	if err := g.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetGauge().GetValue()
}
