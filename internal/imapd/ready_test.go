package imapd

import (
	"context"
	"io"
	"log/slog"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cabalmail/cabalmail/internal/accounts"
	"github.com/cabalmail/cabalmail/internal/metrics"
)

// waitReady polls /readyz's checks until the failure list does (or does
// not) hold want.
func waitReady(t *testing.T, want string, present bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		failed := metrics.Ready(context.Background())
		if slices.Contains(failed, want) == present {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("readiness failures %q; want %q present=%v", failed, want, present)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestListenerReadyCheck: a listener is ready while it accepts, not ready
// once its accept loop has returned (here the listener was closed under it
// while a client stays connected), and forgotten once ServeListener
// returns.
func TestListenerReadyCheck(t *testing.T) {
	e := startEnv(t, envOptions{})
	srv, err := New(Options{Mailboxes: e.boxes, Accounts: accounts.New(e.accStore), InsecureAuthOnLoopback: true,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	name := "imap listener " + addr
	notAccepting := name + ": not accepting connections"
	// A placeholder under the same name, which the server's own check
	// replaces: proof that the server registers one.
	metrics.AddReadyCheck(name, func(context.Context) error { return io.ErrUnexpectedEOF })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- srv.ServeListener(ctx, ln, false) }()
	waitReady(t, name+": "+io.ErrUnexpectedEOF.Error(), false)
	waitReady(t, notAccepting, false)

	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	greeting := make([]byte, 4)
	if _, err := io.ReadFull(c, greeting); err != nil || !strings.HasPrefix(string(greeting), "* OK") {
		t.Fatalf("greeting %q, %v", greeting, err)
	}
	ln.Close()
	waitReady(t, notAccepting, true)
	c.Close()
	select {
	case err := <-done:
		if err == nil {
			t.Error("ServeListener returned nil after its listener failed")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("ServeListener did not return after its last connection closed")
	}
	// Gone, not failing: the check went with the server.
	if failed := metrics.Ready(context.Background()); slices.ContainsFunc(failed, func(f string) bool { return strings.HasPrefix(f, name+":") }) {
		t.Errorf("readiness still checks the stopped listener: %q", failed)
	}
}
