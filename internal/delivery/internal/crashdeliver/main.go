// Command crashdeliver is a test program for the crash-safety test of the
// outbound queue: it opens a queue on a data directory, enqueues messages
// while a delivery runner works the queue against a relay, and reports each
// message on standard output only once Enqueue has returned. The test kills
// it with SIGKILL at random moments and checks that every reported message
// reached the relay at least once. It is not part of the product.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/cabalmail/cabalmail/internal/addresses"
	"github.com/cabalmail/cabalmail/internal/blob"
	"github.com/cabalmail/cabalmail/internal/config"
	"github.com/cabalmail/cabalmail/internal/delivery"
	"github.com/cabalmail/cabalmail/internal/domains"
	"github.com/cabalmail/cabalmail/internal/mailbox"
	"github.com/cabalmail/cabalmail/internal/queue"
	"github.com/cabalmail/cabalmail/internal/store/sqlite"
)

func main() {
	dir := flag.String("dir", "", "data directory (store, queue and mailbox bodies)")
	relay := flag.String("relay", "", "host:port every message is relayed to")
	n := flag.Int("n", 0, "messages to enqueue")
	workers := flag.Int("workers", 8, "concurrent enqueuers")
	lease := flag.Duration("lease", 2*time.Second, "delivery lease")
	drain := flag.Bool("drain", false, "exit once everything is enqueued and the queue is empty")
	flag.Parse()
	if err := run(*dir, *relay, *n, *workers, *lease, *drain); err != nil {
		fmt.Fprintln(os.Stderr, "crashdeliver:", err)
		os.Exit(1)
	}
}

func run(dir, relay string, n, workers int, lease time.Duration, drain bool) error {
	if dir == "" || relay == "" {
		return fmt.Errorf("-dir and -relay are required")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	st, err := sqlite.Open(ctx, filepath.Join(dir, "cabalmail.db"))
	if err != nil {
		return err
	}
	defer st.Close()
	qblobs, err := blob.OpenDir(filepath.Join(dir, "queue"))
	if err != nil {
		return err
	}
	mblobs, err := blob.OpenDir(filepath.Join(dir, "blobs"))
	if err != nil {
		return err
	}
	mb, err := mailbox.Open(ctx, mailbox.Options{Store: st, Blobs: mailbox.BlobsOf(mblobs), Logger: log})
	if err != nil {
		return err
	}
	defer mb.Close()
	q, err := queue.Open(ctx, queue.Options{Store: st, Blobs: qblobs, Logger: log, Hostname: "smtp.mail.example.test"})
	if err != nil {
		return err
	}
	r, err := delivery.New(delivery.Options{Queue: q, Mailboxes: mb, Addresses: addresses.New(st, addresses.Options{ControlDomain: "mail.example.test"}),
		Domains: domains.New(st, domains.Options{ControlDomain: "mail.example.test"}),
		Routes:  []config.Route{{Domain: "*", Relay: relay, TLS: "none"}}, Hostname: "smtp.mail.example.test", Logger: log,
		PollInterval: 20 * time.Millisecond, Lease: lease, CommandTimeout: 10 * time.Second, ConnectTimeout: 5 * time.Second})
	if err != nil {
		return err
	}
	runDone := make(chan error, 1)
	go func() { runDone <- r.Run(ctx) }()

	var out sync.Mutex
	var wg sync.WaitGroup
	next := make(chan int)
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				token, err := newToken()
				if err != nil {
					errs <- err
					return
				}
				body := fmt.Sprintf("From: <alice@x1.example.test>\r\nTo: <bob@remote.test>\r\nSubject: crash %d\r\nX-Crash-Token: %s\r\n\r\n%s\r\n",
					i, token, strings.Repeat("body line\r\n", 20))
				id, err := q.Enqueue(ctx, queue.Message{From: "alice@x1.example.test", Recipients: []string{"bob@remote.test"}, Body: strings.NewReader(body)})
				if err != nil {
					errs <- err
					return
				}
				// Written only now: the message is acknowledged.
				out.Lock()
				_, err = fmt.Fprintf(os.Stdout, "queued %s %s\n", token, id)
				out.Unlock()
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	for i := 0; i < n; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	close(errs)
	for err := range errs {
		return err
	}
	fmt.Fprintln(os.Stdout, "enqueued")
	if !drain {
		for {
			time.Sleep(time.Hour) // run until killed
		}
	}
	for {
		items, err := q.List(ctx)
		if err != nil {
			return err
		}
		if len(items) == 0 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	if err := <-runDone; err != nil {
		return err
	}
	_, err = io.WriteString(os.Stdout, "drained\n")
	return err
}

func newToken() (string, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return hex.EncodeToString(b[:]), nil
}
