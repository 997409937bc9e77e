package dnsd

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/cabalmail/cabalmail/internal/metrics"
	"github.com/cabalmail/cabalmail/internal/monitor"
)

// A running server records the dns-serial heartbeat the monitor watches,
// and /readyz depends on its data being loaded until it closes.
func TestHeartbeatAndReadiness(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	deadline := time.Now().Add(10 * time.Second)
	for {
		last, err := monitor.LastHeartbeat(ctx, e.other, "dns-serial")
		if err != nil {
			t.Fatal(err)
		}
		if !last.IsZero() {
			if time.Since(last) > time.Minute {
				t.Fatalf("heartbeat %s is stale", last)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no dns-serial heartbeat recorded")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if failed := metrics.Ready(ctx); len(failed) != 0 {
		t.Fatalf("not ready while serving: %v", failed)
	}
	if err := e.srv.ready(ctx); err != nil {
		t.Fatalf("ready check: %v", err)
	}
	if err := e.srv.Close(); err != nil {
		t.Fatal(err)
	}
	if err := e.srv.ready(ctx); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Errorf("ready check after close: %v", err)
	}
	for _, f := range metrics.Ready(ctx) {
		if strings.HasPrefix(f, "dns data") {
			t.Errorf("check left behind after close: %s", f)
		}
	}
	// A server that never loaded data is not ready.
	fresh, err := New(Options{Zones: e.srv.opts.Zones, Settings: e.st})
	if err != nil {
		t.Fatal(err)
	}
	if err := fresh.ready(ctx); err == nil || !strings.Contains(err.Error(), "no data") {
		t.Errorf("ready check before any data: %v", err)
	}
}
