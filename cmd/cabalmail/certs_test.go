package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cabalmail/cabalmail/internal/monitor"
	"github.com/cabalmail/cabalmail/internal/tlsutil"
)

func TestCertificateRenewalHeartbeat(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "dev")
	cfg, err := prepareDev(dir)
	if err != nil {
		t.Fatal(err)
	}
	a, err := openAppConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	n, closeLogs, err := newNode(&env{stdout: io.Discard, stderr: io.Discard}, cfg, a)
	if err != nil {
		t.Fatal(err)
	}
	defer closeLogs()

	now := time.Now()
	if err := renewCertificatesOnce(ctx, n, now); err != nil {
		t.Fatal(err)
	}
	last, err := monitor.LastHeartbeat(ctx, a.st, "cert-renewal")
	if err != nil || last.Unix() != now.Unix() {
		t.Fatalf("heartbeat = %v, %v; want %v", last, err, now)
	}

	// A certificate about to end is no success: the heartbeat stays put
	// and HeartbeatMissed will fire in time.
	if err := os.Remove(cfg.TLS.Cert); err != nil {
		t.Fatal(err)
	}
	if err := tlsutil.GenerateSelfSigned(cfg.TLS.Cert, cfg.TLS.Key, serviceHosts(cfg.ControlDomain), time.Hour); err != nil {
		t.Fatal(err)
	}
	fresh, closeFresh, err := newNode(&env{stdout: io.Discard, stderr: io.Discard}, cfg, a)
	if err != nil {
		t.Fatal(err)
	}
	defer closeFresh()
	if err := renewCertificatesOnce(ctx, fresh, now.Add(time.Minute)); err == nil {
		t.Fatal("a certificate valid for one more hour counted as renewed")
	}
	if again, _ := monitor.LastHeartbeat(ctx, a.st, "cert-renewal"); !again.Equal(last) {
		t.Fatalf("heartbeat moved to %v on a failed renewal", again)
	}
}
