package submission

import (
	"context"
	"time"

	"github.com/cabalmail/cabalmail/internal/config"
	"github.com/cabalmail/cabalmail/internal/delivery"
	"github.com/cabalmail/cabalmail/internal/mailbox"
	"github.com/cabalmail/cabalmail/internal/smtptest"
)

// sendOut has the real delivery runner send what is queued to an SMTP
// fixture standing for every remote host (the runner DKIM-signs on the
// way), and returns the first n messages the fixture received. Messages
// claimed by queued() are released first.
func (e *testEnv) sendOut(claimed []queuedMessage, n int) []smtptest.Message {
	e.t.Helper()
	ctx := context.Background()
	for _, q := range claimed {
		if err := e.store.ReleaseLease(ctx, "test", q.ID); err != nil {
			e.t.Fatal(err)
		}
	}
	remote, err := smtptest.Start(nil)
	if err != nil {
		e.t.Fatal(err)
	}
	defer remote.Close()
	mb, err := mailbox.Open(ctx, mailbox.Options{Store: e.store, Blobs: mailbox.BlobsOf(e.blobs.Dir), Logger: quietLogger()})
	if err != nil {
		e.t.Fatal(err)
	}
	defer mb.Close()
	r, err := delivery.New(delivery.Options{
		Queue: e.q, Mailboxes: mb, Addresses: e.addrs, Domains: e.domains, Hostname: e.hostname, Logger: quietLogger(),
		Routes:       []config.Route{{Domain: "*", Relay: remote.Addr}},
		PollInterval: 10 * time.Millisecond, CommandTimeout: 5 * time.Second, ConnectTimeout: 2 * time.Second,
	})
	if err != nil {
		e.t.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- r.Run(rctx) }()
	msgs := remote.WaitMessages(n, 20*time.Second)
	cancel()
	if err := <-done; err != nil && rctx.Err() == nil {
		e.t.Fatal(err)
	}
	if len(msgs) < n {
		e.t.Fatalf("the remote host got %d messages, want %d", len(msgs), n)
	}
	return msgs[:n]
}
