package web

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cabalmail/cabalmail/internal/accounts"
	"github.com/cabalmail/cabalmail/internal/addresses"
	"github.com/cabalmail/cabalmail/internal/domains"
	"github.com/cabalmail/cabalmail/internal/metrics"
	"github.com/cabalmail/cabalmail/internal/store"
)

// Sign-up modes (the web.signup configuration key).
const (
	SignupClosed = "closed" // only admins and the operator create users
	SignupInvite = "invite" // an admin-issued invite code is needed
	SignupOpen   = "open"   // anyone may sign up; an admin still approves
)

// Options configures a Server. Store, Accounts and Addresses are required.
type Options struct {
	Store     store.Store
	Accounts  *accounts.Service
	Addresses *addresses.Service
	// Domains derives the DNS records the admin DNS check expects; nil
	// disables the check.
	Domains *domains.Service
	// DNSServer is host:port of our DNS role, asked by the DNS check.
	DNSServer string

	// Listen are the addresses to serve on (host:port).
	Listen []string
	// TLS, when set, serves HTTPS. Without it the server speaks plain
	// HTTP, which only development mode should do.
	TLS *tls.Config
	// Dev relaxes what only makes sense in production: cookies are not
	// marked Secure (the dev server speaks plain HTTP) and no HSTS.
	Dev bool

	Signup string // SignupClosed (default), SignupInvite or SignupOpen
	// Issuer names the service in authenticator apps; default "Cabalmail".
	Issuer string
	// SessionTTL is how long a login lasts; default 12 hours.
	SessionTTL time.Duration

	Logger *slog.Logger
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

// Limits every listener applies.
const (
	maxBodyBytes      = 64 << 10 // JSON and form bodies
	maxHeaderBytes    = 32 << 10
	readHeaderTimeout = 10 * time.Second
	readTimeout       = 30 * time.Second
	writeTimeout      = 60 * time.Second
	idleTimeout       = 120 * time.Second
	maxConns          = 512 // per listener
)

// Server serves the web app and the API.
type Server struct {
	opts    Options
	log     *slog.Logger
	now     func() time.Time
	handler http.Handler

	loginIP   *limiter // login and sign-up attempts per client address
	loginUser *limiter // failed logins per user name
	adminMut  *limiter // admin mutations per admin
	pages     *pageSet
}

// New checks opts and builds the server.
func New(opts Options) (*Server, error) {
	if opts.Store == nil || opts.Accounts == nil || opts.Addresses == nil {
		return nil, errors.New("web: Store, Accounts and Addresses are required")
	}
	switch opts.Signup {
	case "":
		opts.Signup = SignupClosed
	case SignupClosed, SignupInvite, SignupOpen:
	default:
		return nil, fmt.Errorf("web: sign-up mode %q: want %q, %q or %q", opts.Signup, SignupClosed, SignupInvite, SignupOpen)
	}
	if opts.Issuer == "" {
		opts.Issuer = "Cabalmail"
	}
	if opts.SessionTTL <= 0 {
		opts.SessionTTL = 12 * time.Hour
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	pages, err := loadPages()
	if err != nil {
		return nil, err
	}
	s := &Server{
		opts:      opts,
		log:       opts.Logger,
		now:       opts.Now,
		loginIP:   newLimiter(20, time.Minute, opts.Now),
		loginUser: newLimiter(10, 15*time.Minute, opts.Now),
		adminMut:  newLimiter(30, time.Minute, opts.Now),
		pages:     pages,
	}
	s.handler = s.routes()
	return s, nil
}

// Handler returns the HTTP handler with every middleware applied, for tests
// and for embedding.
func (s *Server) Handler() http.Handler { return s.handler }

// HTTPServer returns an http.Server with the listener limits, for one
// listener.
func (s *Server) HTTPServer() *http.Server {
	return &http.Server{
		Handler:           s.handler,
		TLSConfig:         s.opts.TLS,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
}

// Serve listens on every configured address and serves until ctx is
// cancelled, then shuts down gracefully.
func (s *Server) Serve(ctx context.Context) error {
	if len(s.opts.Listen) == 0 {
		return errors.New("web: no listen address configured (web.listen)")
	}
	var lns []net.Listener
	for _, addr := range s.opts.Listen {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			for _, l := range lns {
				l.Close()
			}
			return fmt.Errorf("web: listen %s: %w", addr, err)
		}
		lns = append(lns, ln)
	}
	return s.ServeListeners(ctx, lns...)
}

// ServeListeners serves on already open listeners until ctx is cancelled.
func (s *Server) ServeListeners(ctx context.Context, lns ...net.Listener) error {
	errc := make(chan error, len(lns))
	var servers []*http.Server
	var removes []func()
	defer func() {
		for _, remove := range removes {
			remove()
		}
	}()
	for _, ln := range lns {
		hs := s.HTTPServer()
		servers = append(servers, hs)
		ln = limitListener(ln, maxConns)
		if s.opts.TLS != nil {
			ln = tls.NewListener(ln, s.opts.TLS)
		}
		s.log.Info("web listening", "addr", ln.Addr().String(), "tls", s.opts.TLS != nil)
		// /readyz fails for this listener once its accept loop has
		// returned, and forgets it when the server stops.
		var stopped atomic.Bool
		removes = append(removes, metrics.AddReadyCheck("web listener "+ln.Addr().String(), func(context.Context) error {
			if stopped.Load() {
				return errors.New("not accepting connections")
			}
			return nil
		}))
		go func() { err := hs.Serve(ln); stopped.Store(true); errc <- err }()
	}
	go s.sweepLoop(ctx)
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	shutCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	for _, hs := range servers {
		if e := hs.Shutdown(shutCtx); e != nil {
			s.log.Warn("web shutdown", "err", e)
		}
	}
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("web: serve: %w", err)
	}
	return ctx.Err()
}

// sweepLoop removes expired sessions now and then.
func (s *Server) sweepLoop(ctx context.Context) {
	t := time.NewTicker(10 * time.Minute)
	defer t.Stop()
	for {
		n, err := s.opts.Store.DeleteExpiredSessions(ctx, s.now())
		if err != nil && ctx.Err() == nil {
			s.log.Warn("web: sweep expired sessions", "err", err)
		} else if n > 0 {
			s.log.Debug("web: expired sessions removed", "count", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// limitListener bounds the number of open connections: Accept waits while
// n are open.
func limitListener(ln net.Listener, n int) net.Listener {
	return &limitedListener{Listener: ln, sem: make(chan struct{}, n)}
}

type limitedListener struct {
	net.Listener
	sem chan struct{}
}

func (l *limitedListener) Accept() (net.Conn, error) {
	l.sem <- struct{}{}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.sem
		return nil, err
	}
	open := metrics.Connections("web")
	open.Inc()
	return &limitedConn{Conn: c, release: func() { open.Dec(); <-l.sem }}, nil
}

type limitedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
