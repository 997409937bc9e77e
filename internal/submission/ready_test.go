package submission

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cabalmail/cabalmail/internal/metrics"
)

// sharedConnections reads cabalmail_connections{tier="smtp-out"} from the
// process registry.
func sharedConnections(t *testing.T) float64 {
	t.Helper()
	mfs, err := metrics.Registry().Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "cabalmail_connections" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == "tier" && lp.GetValue() == tier {
					return m.GetGauge().GetValue()
				}
			}
		}
	}
	return 0
}

// waitReady polls /readyz's checks until one failure starting with
// prefix is (or is not) listed.
func waitReady(t *testing.T, prefix string, present bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		failed := metrics.Ready(context.Background())
		has := slices.ContainsFunc(failed, func(f string) bool { return strings.HasPrefix(f, prefix) })
		if has == present {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("readiness failures %q; want %q present=%v", failed, prefix, present)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestConnectionsAndReadiness: an open connection shows in the shared
// connection gauge; each listener is ready while it accepts, not ready
// once its accept loop has returned (while connections drain), and
// forgotten once the server has stopped.
func TestConnectionsAndReadiness(t *testing.T) {
	e := newTestEnv(t, nil)
	name := tier + " listener " + e.addr
	tlsName := tier + " listener " + e.tlsAddr
	waitReady(t, name+":", false)

	before := sharedConnections(t)
	c := e.dial(false)
	c.must("EHLO client.example", "250")
	if d := sharedConnections(t) - before; d != 1 {
		t.Errorf("shared connection gauge grew by %v with one connection open, want 1", d)
	}

	if err := e.ln.Close(); err != nil {
		t.Fatal(err)
	}
	waitReady(t, name+": not accepting connections", true)
	waitReady(t, tlsName+": not accepting connections", true)
	_ = c.conn.Close()
	waitReady(t, name+":", false)
	waitReady(t, tlsName+":", false)
	deadline := time.Now().Add(10 * time.Second)
	for sharedConnections(t) != before {
		if time.Now().After(deadline) {
			t.Fatalf("shared connection gauge %v after the connection closed, want %v", sharedConnections(t), before)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
