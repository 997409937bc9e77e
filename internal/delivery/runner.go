// Package delivery works the outbound queue: it claims due messages from
// internal/queue, routes each recipient, delivers, and hands the
// per-recipient results back to the queue.
//
// It is in charge of routing (hosted recipients go straight into their
// mailboxes under the same address rules as smtp-in; others go to a
// configured route's smarthost, or to the domain's MX hosts found through
// the configured resolver, with implicit MX and null MX, RFC 7505), of
// the SMTP client side (go-smtp; opportunistic STARTTLS; the timeouts of
// RFC 5321 4.5.3.2), of the concurrency limits (global, per destination
// domain; recipients of one message in one domain share one transaction,
// and a connection is reused for the next message to the same domain), and
// of the mail log lines (DESIGN.md §6, tier smtp-out). The retry schedule
// and DSNs are the queue's business.
//
// Several processes may run a Runner on one store: each claims messages
// under its own lease owner, and a message whose lease expires (its worker
// died) is claimed again, so every message is delivered at least once.
package delivery

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/cabalmail/cabalmail/internal/addresses"
	"github.com/cabalmail/cabalmail/internal/config"
	"github.com/cabalmail/cabalmail/internal/domains"
	"github.com/cabalmail/cabalmail/internal/mailbox"
	"github.com/cabalmail/cabalmail/internal/maillog"
	"github.com/cabalmail/cabalmail/internal/providers"
	"github.com/cabalmail/cabalmail/internal/queue"
)

// Options configure a Runner. Queue, Mailboxes and Addresses are required;
// every other zero value is a sensible default.
type Options struct {
	Queue     *queue.Queue
	Mailboxes *mailbox.Store
	Addresses *addresses.Service
	// Domains has the DKIM keys: a message queued with a SignDomain is
	// signed with its apex's key each time it is sent to a remote host.
	Domains  *domains.Service
	Routes   []config.Route
	Resolver string // host:port of the DNS server for MX and A/AAAA; "" = the system's (/etc/resolv.conf)
	Hostname string // our name in EHLO; "" = the host's name
	MailLog  *maillog.Writer
	Logger   *slog.Logger
	// Now is the clock of the mail log; nil means time.Now. (The queue
	// has its own clock for scheduling.)
	Now         func() time.Time
	Concurrency int // SMTP sessions and local deliveries at once; 0 = 50
	PerDomain   int // sessions to one destination domain at once; 0 = 10
	// TLSConfig is the client side of STARTTLS and of tls routes; nil
	// means the system roots. Opportunistic STARTTLS to an MX does not
	// verify the certificate (RFC 7435: encryption without authentication
	// beats plain text); a route with tls = "starttls" or "tls" does.
	TLSConfig *tls.Config
	// MXPort is the port of MX hosts; 0 = 25. Tests point it elsewhere.
	MXPort int
	// PollInterval is how often the queue is asked for due messages when
	// it had none; 0 = 1s.
	PollInterval time.Duration
	// Providers, if set, judges every attempt's outcomes before they are
	// recorded (internal/providers): a hard bounce from a suspect provider
	// becomes a deferral, a definite one suppresses the recipient.
	Providers *providers.Tracker
	// Heartbeat, when set, is called after a queue pass that claimed
	// without error, at most once a minute, so the monitor can tell a
	// stalled runner from an idle one.
	Heartbeat func(ctx context.Context, at time.Time)
	// CommandTimeout bounds each SMTP command's reply; 0 = 5 minutes
	// (RFC 5321 4.5.3.2.1-4). DATA termination gets twice as long (10
	// minutes, RFC 5321 4.5.3.2.6).
	CommandTimeout time.Duration
	// ConnectTimeout bounds connecting to one address; 0 = 30s.
	ConnectTimeout time.Duration
	// Batch is how many messages are claimed at once; 0 = 200.
	Batch int
	// Lease is how long a claim lasts before another worker may take the
	// message (renewed while the attempt runs); 0 = 15 minutes. It bounds
	// how long the messages of a crashed worker wait.
	Lease time.Duration
}

// Runner delivers queued messages.
type Runner struct {
	opts  Options
	q     *queue.Queue
	log   *slog.Logger
	owner string
	lease time.Duration
	dns   *resolver
	sched *scheduler
	sign  *signer

	finishMu sync.Mutex
	finished []queue.Result
	finishC  chan struct{}
	slots    chan struct{} // claimed messages not yet finished

	apexMu sync.Mutex
	apexes []string
	apexAt time.Time
}

// lease is how long a claim lasts before another worker may take the
// message; long attempts renew it.
const defaultLease = 15 * time.Minute

// New checks opts and returns a Runner.
func New(opts Options) (*Runner, error) {
	if opts.Queue == nil || opts.Mailboxes == nil || opts.Addresses == nil || opts.Domains == nil {
		return nil, errors.New("delivery: new: Queue, Mailboxes, Addresses and Domains are required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = 50
	}
	if opts.PerDomain <= 0 {
		opts.PerDomain = 10
	}
	if opts.MXPort == 0 {
		opts.MXPort = 25
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = time.Second
	}
	if opts.CommandTimeout <= 0 {
		opts.CommandTimeout = 5 * time.Minute
	}
	if opts.ConnectTimeout <= 0 {
		opts.ConnectTimeout = 30 * time.Second
	}
	if opts.Batch <= 0 {
		opts.Batch = 200
	}
	if opts.Lease <= 0 {
		opts.Lease = defaultLease
	}
	if opts.Hostname == "" {
		h, err := os.Hostname()
		if err != nil || h == "" {
			h = "localhost"
		}
		opts.Hostname = h
	}
	for i, rt := range opts.Routes {
		switch rt.TLS {
		case "", "none", "starttls", "tls":
		default:
			return nil, fmt.Errorf("delivery: new: route %d (%s): unknown tls mode %q", i, rt.Domain, rt.TLS)
		}
		if rt.Domain == "" || rt.Relay == "" {
			return nil, fmt.Errorf("delivery: new: route %d: domain and relay are required", i)
		}
	}
	res, err := newResolver(opts.Resolver)
	if err != nil {
		return nil, err
	}
	owner, err := leaseOwner()
	if err != nil {
		return nil, err
	}
	r := &Runner{opts: opts, q: opts.Queue, log: opts.Logger, owner: owner, lease: opts.Lease, dns: res,
		finishC: make(chan struct{}, 1), slots: make(chan struct{}, 4*opts.Batch)}
	r.sched = newScheduler(opts.Concurrency, opts.PerDomain, r.runSession)
	r.sign = newSigner(opts.Domains)
	return r, nil
}

// leaseOwner names this runner in the queue's leases: host, process and a
// random part, so two runners never share leases.
func leaseOwner() (string, error) {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("delivery: lease owner: %w", err)
	}
	h, _ := os.Hostname()
	return fmt.Sprintf("%s/%d/%s", h, os.Getpid(), hex.EncodeToString(b[:])), nil
}

// Run works the queue until ctx is done. Attempts under way when ctx ends
// are abandoned; their leases expire and the messages are tried again.
func (r *Runner) Run(ctx context.Context) error {
	finisherDone := make(chan struct{})
	fctx, stopFinisher := context.WithCancel(context.WithoutCancel(ctx))
	go func() { defer close(finisherDone); r.finisher(fctx) }()
	defer func() {
		stopFinisher()
		<-finisherDone
	}()
	go r.renewLeases(ctx)
	var lastBeat time.Time
	for {
		n, err := r.claimOnce(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			r.log.Error("delivery: claim", "err", err)
		} else if now := r.opts.Now(); r.opts.Heartbeat != nil && now.Sub(lastBeat) >= time.Minute {
			lastBeat = now
			r.opts.Heartbeat(ctx, now)
		}
		if n > 0 && err == nil {
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(r.opts.PollInterval):
		}
	}
}

// claimOnce claims as many due messages as there is room for and starts
// them. It waits for room when all slots are taken.
func (r *Runner) claimOnce(ctx context.Context) (int, error) {
	// Wait for at least one free slot.
	select {
	case r.slots <- struct{}{}:
		<-r.slots
	case <-ctx.Done():
		return 0, nil
	}
	room := cap(r.slots) - len(r.slots)
	room = min(room, r.opts.Batch)
	work, err := r.q.Claim(ctx, r.owner, r.lease, room)
	if err != nil {
		return 0, err
	}
	for _, w := range work {
		r.slots <- struct{}{}
		r.start(ctx, w)
	}
	return len(work), nil
}

// renewLeases keeps the leases of claimed messages alive while they are
// worked on.
func (r *Runner) renewLeases(ctx context.Context) {
	t := time.NewTicker(r.lease / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		ids := r.sched.activeIDs()
		if err := r.q.ExtendLease(ctx, r.owner, ids, r.lease); err != nil && ctx.Err() == nil {
			r.log.Error("delivery: renew leases", "err", err)
		}
	}
}

// finish hands a finished attempt to the finisher, which records results
// in batches (one store commit for many messages).
func (r *Runner) finish(res queue.Result) {
	r.finishMu.Lock()
	r.finished = append(r.finished, res)
	r.finishMu.Unlock()
	select {
	case r.finishC <- struct{}{}:
	default:
	}
}

func (r *Runner) finisher(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			r.flush(ctx)
			return
		case <-r.finishC:
		}
		r.flush(ctx)
	}
}

func (r *Runner) flush(ctx context.Context) {
	r.finishMu.Lock()
	batch := r.finished
	r.finished = nil
	r.finishMu.Unlock()
	if len(batch) == 0 {
		return
	}
	if r.opts.Providers != nil {
		batch = r.opts.Providers.Apply(ctx, batch)
	}
	done, err := r.q.Finish(ctx, r.owner, batch)
	if err != nil {
		// The leases expire and the messages are tried again: a
		// duplicate at worst, never a loss.
		r.log.Error("delivery: record results", "messages", len(batch), "err", err)
	}
	for _, res := range done {
		r.logResult(res)
	}
	for range batch {
		r.sched.forget()
		<-r.slots
	}
}

// logResult writes the mail log lines of one attempt.
func (r *Runner) logResult(res queue.Result) {
	if r.opts.MailLog == nil {
		return
	}
	now := r.opts.Now()
	for _, o := range res.Outcomes {
		e := maillog.Entry{Time: now, Tier: queue.Tier, QueueID: res.Work.ID, Rcpt: o.Rcpt,
			Delay: r.q.Now().Sub(res.Work.Created), Relay: o.Relay, RelayIP: o.RelayIP, DSN: o.DSN}
		switch o.Kind {
		case queue.Delivered:
			e.Stat, e.Detail = "Sent", o.Reply
		case queue.Deferred:
			e.Stat, e.Detail = "Deferred", o.Reply
		default:
			e.Stat = failStat(o.DSN)
			e.Detail = o.Reply
		}
		if err := r.opts.MailLog.Log(e); err != nil {
			r.log.Error("delivery: mail log", "err", err)
		}
	}
}

// failStat is sendmail's status phrase for a permanent failure.
func failStat(code string) string {
	switch code {
	case "5.1.1":
		return "User unknown"
	case "5.1.2", "5.1.10":
		return "Host unknown"
	case "5.2.1":
		return "Mailbox disabled"
	case "5.2.2":
		return "Mailbox full"
	case "5.3.4":
		return "Message too large"
	case "4.4.7":
		return "Timeout waiting for input from host"
	}
	return "Service unavailable"
}
