package web

import (
	"context"
	"io"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cabalmail/cabalmail/internal/metrics"
)

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

// TestListenerReadiness: a listener is ready while it accepts, not ready
// once its accept loop has returned (while a request in progress drains),
// and forgotten once ServeListeners has returned.
func TestListenerReadiness(t *testing.T) {
	e := newEnv(t, envOpts{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	name := "web listener " + ln.Addr().String()
	// A placeholder under the same name, which the server's own check
	// replaces: proof that the server registers one.
	metrics.AddReadyCheck(name, func(context.Context) error { return io.ErrUnexpectedEOF })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- e.srv.ServeListeners(ctx, ln) }()
	waitReady(t, name+":", false)

	// A request still being sent keeps the server draining.
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, "GET /login HTTP/1.1\r\nHost: 127.0.0.1\r\n"); err != nil {
		t.Fatal(err)
	}
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	waitReady(t, name+": not accepting connections", true)
	c.Close()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		t.Fatal("ServeListeners did not return after its listener failed")
	}
	waitReady(t, name+":", false)
}
