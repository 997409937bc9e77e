package smtpin

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync/atomic"
	"time"

	"github.com/cabalmail/cabalmail/internal/addresses"
	"github.com/cabalmail/cabalmail/internal/authres"
	"github.com/cabalmail/cabalmail/internal/mailbox"
	"github.com/cabalmail/cabalmail/internal/maillog"
	"github.com/cabalmail/cabalmail/internal/metrics"
	"github.com/cabalmail/cabalmail/internal/smtplimit"
	"github.com/cabalmail/cabalmail/internal/store"
	"github.com/emersion/go-smtp"
)

// Options configure a Server. Store, Addresses, Mailboxes and Hostname are
// required; every other zero value is a sensible default.
type Options struct {
	Store     store.Store
	Addresses *addresses.Service
	Mailboxes *mailbox.Store
	// Auth stamps Authentication-Results; nil means one with the system
	// resolver and AuthServID Hostname.
	Auth *authres.Checker
	// Hostname is our name in the greeting and in Received fields.
	Hostname string
	// TLS enables STARTTLS; nil means no STARTTLS.
	TLS *tls.Config
	// Listen are the addresses Serve listens on.
	Listen []string

	MaxMessageSize int64 // octets; default 50 MB
	MaxRecipients  int   // per transaction; default 100 (RFC 5321 4.5.3.1.8)
	MaxConnsPerIP  int   // default 32
	MaxConns       int   // default 1000
	// MaxCommands bounds MAIL and RCPT commands per connection; default 10000.
	MaxCommands int
	// Timeout is how long we wait for each command or chunk of data;
	// default 5 minutes (RFC 5321 4.5.3.2.7).
	Timeout time.Duration
	// MaxConnLifetime bounds a whole connection; default 1 hour.
	MaxConnLifetime time.Duration
	// DeliveryTimeout bounds storing one message; default 2 minutes, under
	// the client's 10-minute wait for the end-of-data reply (RFC 5321
	// 4.5.3.2.6).
	DeliveryTimeout time.Duration
	// TempfailPoll is how often the tempfail switch is read in the
	// background for the metric and the log; default 1s.
	TempfailPoll time.Duration

	// SkipSentEvents keeps no store.Event for delivered recipients, only
	// for refusals and deferrals. By default every recipient's outcome is
	// stored for `cabalmail diagnose` (in batches, see bookkeeper); every
	// delivery is in the mail log either way.
	SkipSentEvents bool

	MailLog *maillog.Writer // nil: no mail log
	Logger  *slog.Logger    // nil: slog.Default()
}

// Server is the MX tier.
type Server struct {
	opts     Options
	log      *slog.Logger
	auth     *authres.Checker
	tempfail *tempfailCache
	metrics  *serverMetrics
	smtp     *smtp.Server
	book     *bookkeeper
	apexes   *apexCache
}

// New checks opts and returns a Server.
func New(opts Options) (*Server, error) {
	if opts.Store == nil || opts.Addresses == nil || opts.Mailboxes == nil {
		return nil, errors.New("smtpin: Store, Addresses and Mailboxes are required")
	}
	if opts.Hostname == "" {
		return nil, errors.New("smtpin: Hostname is required")
	}
	if opts.MaxMessageSize <= 0 {
		opts.MaxMessageSize = 50 << 20
	}
	if opts.MaxRecipients <= 0 {
		opts.MaxRecipients = 100
	}
	if opts.MaxConnsPerIP <= 0 {
		opts.MaxConnsPerIP = 32
	}
	if opts.MaxConns <= 0 {
		opts.MaxConns = 1000
	}
	if opts.MaxCommands <= 0 {
		opts.MaxCommands = 10000
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 5 * time.Minute
	}
	if opts.MaxConnLifetime <= 0 {
		opts.MaxConnLifetime = time.Hour
	}
	if opts.DeliveryTimeout <= 0 {
		opts.DeliveryTimeout = 2 * time.Minute
	}
	if opts.TempfailPoll <= 0 {
		opts.TempfailPoll = time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Auth == nil {
		opts.Auth = authres.New(authres.Options{AuthServID: opts.Hostname})
	}
	s := &Server{
		opts:     opts,
		log:      opts.Logger,
		auth:     opts.Auth,
		tempfail: &tempfailCache{st: opts.Store},
		metrics:  getMetrics(),
		book:     newBookkeeper(opts.Store, opts.Logger),
		apexes:   &apexCache{st: opts.Store},
	}
	srv := smtp.NewServer(s)
	srv.Domain = opts.Hostname
	srv.TLSConfig = opts.TLS
	srv.MaxMessageBytes = opts.MaxMessageSize
	srv.MaxRecipients = opts.MaxRecipients
	// RFC 5321 4.5.3.1.6: 1000 octets with the CRLF; the library counts
	// the LF of the line before too, hence the limit is met exactly.
	srv.MaxLineLength = 1000
	srv.EnableSMTPUTF8 = true // RFC 6531
	srv.ReadTimeout = opts.Timeout
	srv.WriteTimeout = opts.Timeout
	srv.ErrorLog = slogAdapter{opts.Logger}
	s.smtp = srv
	return s, nil
}

// Serve listens on opts.Listen and serves until ctx is cancelled.
func (s *Server) Serve(ctx context.Context) error {
	if len(s.opts.Listen) == 0 {
		return errors.New("smtpin: no listen address configured")
	}
	var ls []net.Listener
	for _, addr := range s.opts.Listen {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			for _, o := range ls {
				_ = o.Close()
			}
			return fmt.Errorf("smtpin: listen %s: %w", addr, err)
		}
		ls = append(ls, l)
	}
	return s.ServeListeners(ctx, ls...)
}

// ServeListeners serves on already-open listeners until ctx is cancelled;
// it closes them when it returns. A Server serves once.
func (s *Server) ServeListeners(ctx context.Context, ls ...net.Listener) error {
	errc := make(chan error, len(ls))
	for _, l := range ls {
		ll := smtplimit.NewListener(l, smtplimit.Options{
			MaxPerIP: s.opts.MaxConnsPerIP,
			MaxTotal: s.opts.MaxConns,
			Idle:     s.opts.Timeout,
			Lifetime: s.opts.MaxConnLifetime,
			Open:     smtplimit.Mirrored{s.metrics.connections, metrics.Connections(tier)},
			OnReject: func(ip string) { s.log.Warn("connection refused: limit reached", "tier", tier, "ip", ip) },
		})
		s.log.Info("listening", "tier", tier, "addr", l.Addr().String())
		var stopped atomic.Bool
		defer metrics.AddReadyCheck(tier+" listener "+l.Addr().String(), func(context.Context) error {
			if stopped.Load() {
				return errors.New("not accepting connections")
			}
			return nil
		})()
		go func() { err := s.smtp.Serve(ll); stopped.Store(true); errc <- err }()
	}
	go s.watchTempfail(ctx)
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
	s.book.close()
	if err != nil && !errors.Is(err, smtp.ErrServerClosed) {
		return fmt.Errorf("smtpin: serve: %w", err)
	}
	return ctx.Err()
}

// watchTempfail reads the switch in the background so that the metric and
// the program log follow it even when no mail arrives.
func (s *Server) watchTempfail(ctx context.Context) {
	t := time.NewTicker(s.opts.TempfailPoll)
	defer t.Stop()
	var last TempfailState
	first := true
	for {
		st, err := s.tempfail.get(ctx)
		if err != nil {
			s.log.Warn("cannot read the inbound tempfail switch", "tier", tier, "err", err)
		} else if first || st != last {
			if st.On {
				s.log.Warn("inbound tempfail is ON: every 5xx answer becomes a 4xx", "tier", tier, "state", st.String())
				s.metrics.tempfail.Set(1)
			} else {
				s.log.Info("inbound tempfail is off", "tier", tier)
				s.metrics.tempfail.Set(0)
			}
			last, first = st, false
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
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
