package imapd

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/cabalmail/cabalmail/internal/imapd/internal/imapserver"
	"github.com/cabalmail/cabalmail/internal/mailbox"
	"github.com/cabalmail/cabalmail/internal/metrics"
	"github.com/cabalmail/cabalmail/internal/store"
)

// Authenticator checks a user's name and password. *accounts.Service
// implements it. A refused login returns an error wrapping
// accounts.ErrBadCredentials, ErrDisabled or ErrPending; any other error
// means the check could not be made and is answered as a temporary
// failure.
type Authenticator interface {
	Authenticate(ctx context.Context, name, password string) (store.User, error)
}

// Options configure a Server.
type Options struct {
	Mailboxes *mailbox.Store
	Accounts  Authenticator
	// TLS is used for implicit TLS listeners and STARTTLS. Without it only
	// InsecureAuthOnLoopback connections can log in.
	TLS                       *tls.Config
	ListenTLS, ListenSTARTTLS []string // host:port lists
	// InsecureAuthOnLoopback allows LOGIN and AUTHENTICATE without TLS from
	// loopback peers (development mode).
	InsecureAuthOnLoopback bool
	// MaxConnsPerIP and MaxConnsPerUser bound concurrent connections;
	// 0 means 50 and 20.
	MaxConnsPerIP, MaxConnsPerUser int
	// AppendLimit is the largest message APPEND accepts (RFC 7889); 0 means
	// 50 MiB.
	AppendLimit int64
	Logger      *slog.Logger
}

// Server is an IMAP server over the mailbox store.
type Server struct {
	opts   Options
	log    *slog.Logger
	caps   imap.CapSet
	server *imapserver.Server

	mu      sync.Mutex
	perIP   map[string]int
	perUser map[int64]int
	// failures counts recent failed logins per peer address, to slow down
	// password guessing.
	failures map[string]*loginFailures

	loginFailuresTotal atomic.Int64
	metrics            *imapMetrics
}

type loginFailures struct {
	count int
	last  time.Time
}

// Defaults.
const (
	defaultMaxConnsPerIP   = 50
	defaultMaxConnsPerUser = 20
	defaultAppendLimit     = 50 << 20
	// maxAppendLimit is what APPENDLIMIT can advertise (a 32-bit number in
	// the library's interface).
	maxAppendLimit = 1<<32 - 1
)

// New checks the options and builds a server; Serve or ServeListener runs it.
func New(opts Options) (*Server, error) {
	if opts.Mailboxes == nil {
		return nil, errors.New("imapd: Options.Mailboxes is required")
	}
	if opts.Accounts == nil {
		return nil, errors.New("imapd: Options.Accounts is required")
	}
	if len(opts.ListenTLS) > 0 && opts.TLS == nil {
		return nil, errors.New("imapd: Options.ListenTLS needs Options.TLS")
	}
	if opts.MaxConnsPerIP <= 0 {
		opts.MaxConnsPerIP = defaultMaxConnsPerIP
	}
	if opts.MaxConnsPerUser <= 0 {
		opts.MaxConnsPerUser = defaultMaxConnsPerUser
	}
	if opts.AppendLimit <= 0 {
		opts.AppendLimit = defaultAppendLimit
	}
	if opts.AppendLimit > maxAppendLimit {
		return nil, fmt.Errorf("imapd: Options.AppendLimit %d is above %d", opts.AppendLimit, int64(maxAppendLimit))
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	s := &Server{
		opts:     opts,
		log:      opts.Logger.With("tier", "imap"),
		perIP:    map[string]int{},
		perUser:  map[int64]int{},
		failures: map[string]*loginFailures{},
		metrics:  processMetrics(),
	}
	s.caps = imap.CapSet{
		imap.CapIMAP4rev1: {}, imap.CapIMAP4rev2: {},
		imap.CapNamespace: {}, imap.CapUIDPlus: {}, imap.CapESearch: {}, imap.CapSearchRes: {},
		imap.CapListExtended: {}, imap.CapListStatus: {}, imap.CapMove: {}, imap.CapStatusSize: {},
		imap.CapChildren: {}, imap.CapSpecialUse: {}, imap.CapCreateSpecialUse: {},
		imap.CapLiteralPlus: {}, imap.CapBinary: {}, imap.CapUnauthenticate: {},
		imap.CapCondStore: {}, imap.CapID: {}, imap.CapQuota: {}, imap.Cap("QUOTA=RES-STORAGE"): {},
	}
	s.server = imapserver.New(&imapserver.Options{
		NewSession:   s.newSession,
		Caps:         s.caps,
		Logger:       slogPrintf{s.log},
		TLSConfig:    opts.TLS,
		InsecureAuth: s.insecureAuthAllowed,
		OnCommand:    s.metrics.countCommand,
	})
	return s, nil
}

// LoginFailures returns how many logins have failed since the server
// started.
func (s *Server) LoginFailures() int64 { return s.loginFailuresTotal.Load() }

// Serve listens on every configured address and serves until ctx is
// cancelled; it then closes the listeners and connections and returns nil.
func (s *Server) Serve(ctx context.Context) error {
	type listener struct {
		ln          net.Listener
		implicitTLS bool
	}
	var lns []listener
	closeAll := func() {
		for _, l := range lns {
			l.ln.Close()
		}
	}
	for _, addr := range s.opts.ListenTLS {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			closeAll()
			return fmt.Errorf("imapd: listen %s: %w", addr, err)
		}
		lns = append(lns, listener{ln, true})
	}
	for _, addr := range s.opts.ListenSTARTTLS {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			closeAll()
			return fmt.Errorf("imapd: listen %s: %w", addr, err)
		}
		lns = append(lns, listener{ln, false})
	}
	if len(lns) == 0 {
		return errors.New("imapd: no listen address configured")
	}
	errc := make(chan error, len(lns))
	for _, l := range lns {
		go func() { errc <- s.ServeListener(ctx, l.ln, l.implicitTLS) }()
	}
	var first error
	for range lns {
		if err := <-errc; err != nil && first == nil {
			first = err
			closeAll() // one listener failed: stop the others too
		}
	}
	return first
}

// ServeListener serves connections accepted on ln until ctx is cancelled,
// then closes ln and every connection it accepted and returns nil. With
// implicitTLS, connections start with a TLS handshake (port 993).
func (s *Server) ServeListener(ctx context.Context, ln net.Listener, implicitTLS bool) error {
	if implicitTLS && s.opts.TLS == nil {
		return errors.New("imapd: implicit TLS needs Options.TLS")
	}
	s.log.Info("imap listening", "addr", ln.Addr().String(), "tls", implicitTLS)
	// /readyz fails for this listener once its accept loop has returned
	// (while the open connections drain), and forgets it when ServeListener
	// returns.
	var stopped atomic.Bool
	defer metrics.AddReadyCheck("imap listener "+ln.Addr().String(), func(context.Context) error {
		if stopped.Load() {
			return errors.New("not accepting connections")
		}
		return nil
	})()
	var mu sync.Mutex
	open := map[net.Conn]struct{}{}
	stop := context.AfterFunc(ctx, func() {
		ln.Close()
		mu.Lock()
		for c := range open {
			c.Close()
		}
		mu.Unlock()
	})
	defer stop()

	var wg sync.WaitGroup
	defer wg.Wait()
	defer stopped.Store(true)
	var delay time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				if ctx.Err() != nil {
					return nil
				}
				return fmt.Errorf("imapd: accept: %w", err)
			}
			// Out of file descriptors and the like: back off and retry.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			s.log.Warn("imap accept failed", "err", err, "retry_in", delay)
			time.Sleep(delay)
			continue
		}
		delay = 0
		ip := peerIP(c.RemoteAddr())
		if !s.acquireIP(ip) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s.refuse(c, implicitTLS, "Too many connections from your address")
			}()
			continue
		}
		mu.Lock()
		open[c] = struct{}{}
		mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer s.releaseIP(ip)
			defer func() {
				mu.Lock()
				delete(open, c)
				mu.Unlock()
			}()
			s.serveConn(c, implicitTLS)
		}()
	}
}

func (s *Server) serveConn(c net.Conn, implicitTLS bool) {
	s.metrics.connections.Inc()
	defer s.metrics.connections.Dec()
	shared := metrics.Connections("imap")
	shared.Inc()
	defer shared.Dec()
	if implicitTLS {
		tc := tls.Server(c, s.opts.TLS)
		c.SetDeadline(time.Now().Add(30 * time.Second))
		if err := tc.Handshake(); err != nil {
			s.log.Debug("imap tls handshake failed", "peer", c.RemoteAddr().String(), "err", err)
			c.Close()
			return
		}
		c.SetDeadline(time.Time{})
		c = tc
	}
	s.server.ServeConn(c)
}

// refuse greets a connection over the limit with BYE (RFC 3501 7.1.5) and
// closes it.
func (s *Server) refuse(c net.Conn, implicitTLS bool, text string) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if implicitTLS {
		tc := tls.Server(c, s.opts.TLS)
		if err := tc.Handshake(); err != nil {
			return
		}
		c = tc
	}
	s.log.Info("imap connection refused", "peer", c.RemoteAddr().String(), "reason", text)
	fmt.Fprintf(c, "* BYE [UNAVAILABLE] %s\r\n", text)
}

func (s *Server) acquireIP(ip string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.perIP[ip] >= s.opts.MaxConnsPerIP {
		return false
	}
	s.perIP[ip]++
	return true
}

func (s *Server) releaseIP(ip string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.perIP[ip]--; s.perIP[ip] <= 0 {
		delete(s.perIP, ip)
	}
}

func (s *Server) acquireUser(id int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.perUser[id] >= s.opts.MaxConnsPerUser {
		return false
	}
	s.perUser[id]++
	return true
}

func (s *Server) releaseUser(id int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.perUser[id]--; s.perUser[id] <= 0 {
		delete(s.perUser, id)
	}
}

// Failed-login slowdown: each failure from an address makes the next
// failure answer later, up to maxLoginDelay; the count is forgotten after
// failureMemory without failures.
const (
	loginDelayStep = time.Second
	maxLoginDelay  = 10 * time.Second
	failureMemory  = 15 * time.Minute
)

// loginFailed records a failed login from ip and returns how long to wait
// before answering.
func (s *Server) loginFailed(ip string) time.Duration {
	s.loginFailuresTotal.Add(1)
	s.metrics.loginFailures.Inc()
	metrics.AuthFailure("imap")
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, f := range s.failures {
		if now.Sub(f.last) > failureMemory {
			delete(s.failures, k)
		}
	}
	f := s.failures[ip]
	if f == nil {
		f = &loginFailures{}
		s.failures[ip] = f
	}
	f.count++
	f.last = now
	return min(time.Duration(f.count)*loginDelayStep, maxLoginDelay)
}

func (s *Server) insecureAuthAllowed(c net.Conn) bool {
	if !s.opts.InsecureAuthOnLoopback {
		return false
	}
	ip := net.ParseIP(peerIP(c.RemoteAddr()))
	return ip != nil && ip.IsLoopback()
}

func peerIP(a net.Addr) string {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.IP.String()
	}
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return host
}

// slogPrintf adapts slog to the library's Printf logger.
type slogPrintf struct{ log *slog.Logger }

func (l slogPrintf) Printf(format string, args ...any) {
	l.log.Warn(fmt.Sprintf(format, args...))
}
