package imapd

import (
	"strings"
	"testing"
	"time"

	"github.com/cabalmail/cabalmail/internal/metrics"
)

// gauge reads one IMAP series from the process registry, by name and
// command label ("" for series without one).
func imapSeries(t *testing.T, name, command string) float64 {
	t.Helper()
	mfs, err := metrics.Registry().Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			var tier, cmd string
			for _, lp := range m.GetLabel() {
				switch lp.GetName() {
				case "tier":
					tier = lp.GetValue()
				case "command":
					cmd = lp.GetValue()
				}
			}
			if tier != "imap" || cmd != command {
				continue
			}
			switch {
			case m.GetCounter() != nil:
				return m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				return m.GetGauge().GetValue()
			}
		}
	}
	return 0
}

func TestMetrics(t *testing.T) {
	e := startEnv(t, envOptions{})
	// A second server in the same process must not fail to register.
	e2 := startEnv(t, envOptions{})
	_ = e2

	failures0 := imapSeries(t, "cabalmail_imap_login_failures_total", "")
	noop0 := imapSeries(t, "cabalmail_imap_commands_total", "NOOP")
	uidFetch0 := imapSeries(t, "cabalmail_imap_commands_total", "UID FETCH")
	unknown0 := imapSeries(t, "cabalmail_imap_commands_total", "unknown")
	conns0 := imapSeries(t, "cabalmail_imap_connections", "")

	r := e.dial()
	if _, st := r.cmd(`LOGIN alice "wrong password"`); !strings.HasPrefix(st, "NO") {
		t.Fatalf("bad LOGIN: %s", st)
	}
	r.ok(`LOGIN alice "` + testPassword + `"`)
	r.ok("NOOP")
	r.ok("NOOP")
	r.ok("SELECT INBOX")
	r.ok("UID FETCH 1:* (FLAGS)")
	if _, st := r.cmd("FROBNICATE"); !strings.HasPrefix(st, "BAD") {
		t.Fatalf("unknown command: %s", st)
	}
	r2 := e2.login()

	if d := imapSeries(t, "cabalmail_imap_login_failures_total", "") - failures0; d != 1 {
		t.Errorf("login failures grew by %v, want 1", d)
	}
	if d := imapSeries(t, "cabalmail_imap_commands_total", "NOOP") - noop0; d != 2 {
		t.Errorf("NOOP count grew by %v, want 2", d)
	}
	if d := imapSeries(t, "cabalmail_imap_commands_total", "UID FETCH") - uidFetch0; d != 1 {
		t.Errorf("UID FETCH count grew by %v, want 1", d)
	}
	if d := imapSeries(t, "cabalmail_imap_commands_total", "unknown") - unknown0; d != 1 {
		t.Errorf("unknown count grew by %v, want 1", d)
	}
	if d := imapSeries(t, "cabalmail_imap_connections", "") - conns0; d != 2 {
		t.Errorf("connections gauge grew by %v with two open, want 2", d)
	}
	r.ok("LOGOUT")
	r2.ok("LOGOUT")
	r.c.Close()
	r2.c.Close()
	deadline := time.Now().Add(5 * time.Second)
	for imapSeries(t, "cabalmail_imap_connections", "") != conns0 {
		if time.Now().After(deadline) {
			t.Fatalf("connections gauge %v after both closed, want %v", imapSeries(t, "cabalmail_imap_connections", ""), conns0)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
