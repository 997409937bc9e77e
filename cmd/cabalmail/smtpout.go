package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cabalmail/cabalmail/internal/blob"
	"github.com/cabalmail/cabalmail/internal/config"
	"github.com/cabalmail/cabalmail/internal/delivery"
	"github.com/cabalmail/cabalmail/internal/metrics"
	"github.com/cabalmail/cabalmail/internal/monitor"
	"github.com/cabalmail/cabalmail/internal/providers"
	"github.com/cabalmail/cabalmail/internal/queue"
	"github.com/cabalmail/cabalmail/internal/submission"
	"github.com/prometheus/client_golang/prometheus"
)

// smtpOutRole is the outbound tier: the submission listeners in front of
// the durable queue, and the delivery runner behind it.
func smtpOutRole() role {
	return role{
		name: "smtp-out",
		describe: func(cfg *config.Config) string {
			var parts []string
			if l := cfg.Submission.ListenSTARTTLS; len(l) > 0 {
				parts = append(parts, strings.Join(l, ", ")+" (submission, STARTTLS)")
			}
			if l := cfg.Submission.ListenTLS; len(l) > 0 {
				parts = append(parts, strings.Join(l, ", ")+" (submission, TLS)")
			}
			if len(parts) == 0 {
				return "no submission listeners; delivering the queue"
			}
			return strings.Join(parts, "; ")
		},
		run: runSMTPOut,
	}
}

func runSMTPOut(ctx context.Context, n *node) error {
	tlsConf, err := n.TLS()
	if err != nil {
		return fmt.Errorf("tls: %w", err)
	}
	mb, err := n.Mailboxes(ctx)
	if err != nil {
		return err
	}
	blobs, err := blob.OpenDir(n.cfg.Store.QueueDir)
	if err != nil {
		return fmt.Errorf("open blob store: %w", err)
	}
	logger := n.logger
	q, err := queue.Open(ctx, queue.Options{
		Store:    n.app.st,
		Blobs:    blobs,
		Logger:   logger,
		Hostname: n.cfg.Hostname,
		Retry:    queue.PolicyOf(n.cfg.Outbound),
	})
	if err != nil {
		return err
	}
	pc := n.cfg.Outbound.Providers
	tracker, err := providers.New(providers.Options{
		Store:      n.app.st,
		Logger:     logger,
		MinReplies: pc.MinReplies,
		MinShare:   pc.MinShare,
		Window:     time.Duration(pc.Window),
		SuspectFor: time.Duration(pc.SuspectFor),
	})
	if err != nil {
		return err
	}
	if err := metrics.Registerer("smtp-out").Register(tracker.Collector()); err != nil {
		var already prometheus.AlreadyRegisteredError
		if !errors.As(err, &already) {
			return fmt.Errorf("register provider metrics: %w", err)
		}
	}
	runner, err := delivery.New(delivery.Options{
		Providers: tracker,
		Queue:     q,
		Mailboxes: mb,
		Addresses: n.app.addresses,
		Domains:   n.app.domains,
		Routes:    n.cfg.Outbound.Route,
		Resolver:  n.cfg.Outbound.Resolver,
		Hostname:  n.cfg.Hostname,
		MailLog:   n.mailLog,
		Logger:    logger,
		Heartbeat: func(ctx context.Context, at time.Time) {
			if err := monitor.RecordHeartbeat(ctx, n.app.st, "queue-runner", at); err != nil {
				logger.Warn("queue-runner heartbeat", "err", err)
			}
		},
		Concurrency: n.cfg.Outbound.Concurrency,
		PerDomain:   n.cfg.Outbound.PerDomain,
	})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 2)
	running := 1
	go func() { errc <- runner.Run(ctx) }()
	s := n.cfg.Submission
	if len(s.ListenSTARTTLS)+len(s.ListenTLS) > 0 {
		srv, err := submission.New(submission.Options{
			Store:                   n.app.st,
			Accounts:                n.app.accounts,
			Domains:                 n.app.domains,
			Queue:                   q,
			Hostname:                n.cfg.Hostname,
			TLS:                     tlsConf,
			ListenSTARTTLS:          s.ListenSTARTTLS,
			ListenTLS:               s.ListenTLS,
			Dev:                     n.cfg.Dev,
			MaxRecipients:           s.MaxRecipients,
			MaxMessagesPerDay:       s.MaxMessagesPerDay,
			MaxMessageSize:          s.MaxMessageSize,
			ReceivedRevealsClientIP: s.ReceivedRevealsClientIP,
			Logger:                  logger,
		})
		if err != nil {
			cancel()
			<-errc
			return err
		}
		running++
		go func() { errc <- srv.Serve(ctx) }()
	}
	var first error
	for ; running > 0; running-- {
		err := <-errc
		if err != nil && !errors.Is(err, context.Canceled) && first == nil {
			first = err
		}
		cancel() // either half stopping stops the tier
	}
	if first != nil {
		return first
	}
	return ctx.Err()
}
