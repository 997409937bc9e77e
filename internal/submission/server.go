package submission

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync/atomic"
	"time"

	"github.com/cabalmail/cabalmail/internal/accounts"
	"github.com/cabalmail/cabalmail/internal/domains"
	"github.com/cabalmail/cabalmail/internal/metrics"
	"github.com/cabalmail/cabalmail/internal/queue"
	"github.com/cabalmail/cabalmail/internal/smtplimit"
	"github.com/cabalmail/cabalmail/internal/store"
	"github.com/emersion/go-smtp"
)

// Queue is the durable outbound queue; *queue.Queue is the one used.
// Enqueue returns only once the message is on stable storage; its ID goes
// into the 250 reply.
type Queue interface {
	Enqueue(ctx context.Context, m queue.Message) (id string, err error)
}

// Options configure a Server. Store, Accounts, Domains, Queue and Hostname
// are required; every other zero value is a sensible default.
type Options struct {
	Store    store.Store
	Accounts *accounts.Service
	Domains  *domains.Service
	Queue    Queue
	// Hostname is our name in the greeting and in Received fields.
	Hostname string
	// TLS is the certificate for STARTTLS and the implicit-TLS port.
	// Without it nobody can authenticate except on loopback in Dev mode.
	TLS *tls.Config
	// ListenSTARTTLS are the port-587 style addresses (RFC 6409), ListenTLS
	// the port-465 style ones (RFC 8314 3.3).
	ListenSTARTTLS []string
	ListenTLS      []string
	// Dev allows AUTH without TLS from loopback addresses.
	Dev bool

	MaxRecipients     int   // per message; default 100
	MaxMessagesPerDay int   // per user over the last 24 hours; default 500
	MaxMessageSize    int64 // octets; default 50 MB
	// ReceivedRevealsClientIP puts the client's address and EHLO name in
	// our Received field.
	ReceivedRevealsClientIP bool

	MaxConnsPerIP int // default 32
	MaxConns      int // default 1000
	// MaxCommands bounds MAIL and RCPT commands per connection; default 10000.
	MaxCommands int
	// Timeout is how long we wait for each command or chunk of data;
	// default 5 minutes (RFC 5321 4.5.3.2.7).
	Timeout time.Duration
	// MaxConnLifetime bounds a whole connection; default 1 hour.
	MaxConnLifetime time.Duration
	// QueueTimeout bounds signing and queueing one message; default 2
	// minutes, under the client's 10-minute wait (RFC 5321 4.5.3.2.6).
	QueueTimeout time.Duration

	// AuthFailureDelay is the wait before answering the first recent failed
	// login from an address; it doubles with each further one up to
	// AuthFailureMaxDelay. Defaults 1s and 16s.
	AuthFailureDelay    time.Duration
	AuthFailureMaxDelay time.Duration
	// AuthFailureLimit is how many failures from one address within
	// AuthFailureWindow make further logins from it refused unchecked.
	// Defaults 20 and 15 minutes.
	AuthFailureLimit  int
	AuthFailureWindow time.Duration

	Now    func() time.Time // nil: time.Now
	Logger *slog.Logger     // nil: slog.Default()
}

// Server is the submission server.
type Server struct {
	opts     Options
	log      *slog.Logger
	metrics  *serverMetrics
	failures *failureTracker
	daily    *dailyCounter
	smtp     *smtp.Server
}

// New checks opts and returns a Server.
func New(opts Options) (*Server, error) {
	if opts.Store == nil || opts.Accounts == nil || opts.Domains == nil || opts.Queue == nil {
		return nil, errors.New("submission: Store, Accounts, Domains and Queue are required")
	}
	if opts.Hostname == "" {
		return nil, errors.New("submission: Hostname is required")
	}
	if len(opts.ListenTLS) > 0 && opts.TLS == nil {
		return nil, errors.New("submission: ListenTLS needs a TLS configuration")
	}
	setDefault(&opts.MaxRecipients, 100)
	setDefault(&opts.MaxMessagesPerDay, 500)
	setDefault(&opts.MaxMessageSize, 50*1000*1000)
	setDefault(&opts.MaxConnsPerIP, 32)
	setDefault(&opts.MaxConns, 1000)
	setDefault(&opts.MaxCommands, 10000)
	setDefault(&opts.Timeout, 5*time.Minute)
	setDefault(&opts.MaxConnLifetime, time.Hour)
	setDefault(&opts.QueueTimeout, 2*time.Minute)
	setDefault(&opts.AuthFailureDelay, time.Second)
	setDefault(&opts.AuthFailureMaxDelay, 16*time.Second)
	setDefault(&opts.AuthFailureLimit, 20)
	setDefault(&opts.AuthFailureWindow, 15*time.Minute)
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	s := &Server{
		opts:    opts,
		log:     opts.Logger,
		metrics: getMetrics(),
		failures: &failureTracker{
			window: opts.AuthFailureWindow, limit: opts.AuthFailureLimit,
			delay: opts.AuthFailureDelay, max: opts.AuthFailureMaxDelay,
			now: opts.Now, byIP: map[string][]time.Time{},
		},
		daily: &dailyCounter{limit: opts.MaxMessagesPerDay, now: opts.Now, byUser: map[int64][]time.Time{}},
	}
	srv := smtp.NewServer(s)
	srv.Domain = opts.Hostname
	srv.TLSConfig = opts.TLS
	srv.MaxMessageBytes = opts.MaxMessageSize
	// RFC 5321 4.5.3.1.6: 1000 octets with the CRLF.
	srv.MaxLineLength = maxLine
	srv.EnableSMTPUTF8 = true // RFC 6531
	srv.ReadTimeout = opts.Timeout
	srv.WriteTimeout = opts.Timeout
	// The library's own check would refuse plain-text AUTH everywhere;
	// in Dev mode session.authAllowed decides per connection instead.
	srv.AllowInsecureAuth = opts.Dev
	srv.ErrorLog = slogAdapter{opts.Logger}
	s.smtp = srv
	return s, nil
}

func setDefault[T int | int64 | time.Duration](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}

// Serve listens on the configured addresses and serves until ctx is
// cancelled.
func (s *Server) Serve(ctx context.Context) error {
	if len(s.opts.ListenSTARTTLS)+len(s.opts.ListenTLS) == 0 {
		return errors.New("submission: no listen address configured")
	}
	var starttls, implicit []net.Listener
	closeAll := func() {
		for _, l := range append(starttls, implicit...) {
			_ = l.Close()
		}
	}
	for _, addr := range s.opts.ListenSTARTTLS {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			closeAll()
			return fmt.Errorf("submission: listen %s: %w", addr, err)
		}
		starttls = append(starttls, l)
	}
	for _, addr := range s.opts.ListenTLS {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			closeAll()
			return fmt.Errorf("submission: listen %s: %w", addr, err)
		}
		implicit = append(implicit, l)
	}
	return s.ServeListeners(ctx, starttls, implicit)
}

// ServeListeners serves on already-open listeners until ctx is cancelled:
// plain ones that offer STARTTLS, and ones on which TLS starts at once. It
// closes them when it returns.
func (s *Server) ServeListeners(ctx context.Context, starttls, implicitTLS []net.Listener) error {
	if len(implicitTLS) > 0 && s.opts.TLS == nil {
		for _, l := range append(starttls, implicitTLS...) {
			_ = l.Close()
		}
		return errors.New("submission: implicit-TLS listeners need a TLS configuration")
	}
	n := len(starttls) + len(implicitTLS)
	errc := make(chan error, n)
	var removes []func()
	defer func() {
		for _, remove := range removes {
			remove()
		}
	}()
	serve := func(l net.Listener, implicit bool) {
		var ll net.Listener = smtplimit.NewListener(l, smtplimit.Options{
			MaxPerIP: s.opts.MaxConnsPerIP,
			MaxTotal: s.opts.MaxConns,
			Idle:     s.opts.Timeout,
			Lifetime: s.opts.MaxConnLifetime,
			Open:     smtplimit.Mirrored{s.metrics.connections, metrics.Connections(tier)},
			OnReject: func(ip string) { s.log.Warn("connection refused: limit reached", "tier", tier, "ip", ip) },
		})
		kind := "STARTTLS"
		if implicit {
			ll = tls.NewListener(ll, s.opts.TLS) // RFC 8314 3.3
			kind = "TLS"
		}
		s.log.Info("listening", "tier", tier, "service", "submission", "addr", l.Addr().String(), "tls", kind)
		// /readyz fails for this listener once its accept loop has
		// returned, and forgets it when the server stops.
		var stopped atomic.Bool
		removes = append(removes, metrics.AddReadyCheck(tier+" listener "+l.Addr().String(), func(context.Context) error {
			if stopped.Load() {
				return errors.New("not accepting connections")
			}
			return nil
		}))
		go func() { err := s.smtp.Serve(ll); stopped.Store(true); errc <- err }()
	}
	for _, l := range starttls {
		serve(l, false)
	}
	for _, l := range implicitTLS {
		serve(l, true)
	}
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	shutCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if serr := s.smtp.Shutdown(shutCtx); serr != nil && !errors.Is(serr, smtp.ErrServerClosed) {
		_ = s.smtp.Close()
	}
	if err != nil && !errors.Is(err, smtp.ErrServerClosed) {
		return fmt.Errorf("submission: serve: %w", err)
	}
	return ctx.Err()
}

// NewSession implements smtp.Backend.
func (s *Server) NewSession(c *smtp.Conn) (smtp.Session, error) {
	return s.newSession(c), nil
}

// slogAdapter routes go-smtp's own error log to slog.
type slogAdapter struct{ l *slog.Logger }

func (a slogAdapter) Printf(format string, v ...any) {
	a.l.Warn(fmt.Sprintf(format, v...), "tier", tier)
}

func (a slogAdapter) Println(v ...any) {
	a.l.Warn(fmt.Sprint(v...), "tier", tier)
}
