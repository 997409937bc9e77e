// Package dnsd is the authoritative DNS role: it answers for every
// configured apex and for the control domain, from the records that
// internal/domains derives from the store (DESIGN.md §2, §4).
//
// It keeps the whole answer data in memory and rebuilds it from the store
// on a short poll (Options.Refresh, half a second by default), so a change
// made by any process — the command line, the web app, another node — is
// served within a second, and no query touches the store. The SOA serial
// is shared through the store's settings ("dns.serial": serial and a hash
// of the data), so every node serving the same store answers with the same
// serial, which bumps whenever the derived data changes.
//
// Behaviour follows RFC 1034/1035 for an authoritative-only server: AA on
// answers from our zones; NXDOMAIN for names that do not exist and NODATA
// for names without the asked type, both with the zone's SOA in the
// authority section (RFC 2308); names compared case-insensitively (RFC
// 4343); UDP replies truncated with TC to the client's buffer (512 octets
// without EDNS(0), RFC 6891) so the client retries over TCP; REFUSED for
// names outside our zones and for zone transfers; no recursion (RA clear).
// Packets are parsed by github.com/miekg/dns; this package decides answers.
//
// It does not decide which records exist: that is internal/domains.
package dnsd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"

	"github.com/cabalmail/cabalmail/internal/domains"
	"github.com/cabalmail/cabalmail/internal/metrics"
	"github.com/cabalmail/cabalmail/internal/monitor"
	"github.com/cabalmail/cabalmail/internal/store"
)

// SerialSetting is the settings key that holds "<serial> <data hash>".
const SerialSetting = "dns.serial"

// Source gives the derived zones; *domains.Service is one.
type Source interface {
	Zones(ctx context.Context) (domains.Zones, error)
}

// Options configure a Server.
type Options struct {
	Zones    Source         // required
	Settings store.Settings // required: where the shared serial lives
	Listen   []string       // host:port; each is served on UDP and TCP
	// Refresh is how often the data is re-read from the store; default
	// 500ms, so changes show within a second.
	Refresh time.Duration
	// MaxTCPConns bounds concurrent TCP connections per listener; default 256.
	MaxTCPConns int
	Logger      *slog.Logger
	Now         func() time.Time // default time.Now
}

// Server is the DNS role.
type Server struct {
	opts Options
	log  *slog.Logger
	snap atomic.Pointer[snapshot]

	mu      sync.Mutex
	servers []*dns.Server
	addrs   []string
	done    chan struct{}
	wg      sync.WaitGroup
	// removeReady withdraws the /readyz check Start added.
	removeReady func()
}

// New checks opts and returns a Server that is not yet listening.
func New(opts Options) (*Server, error) {
	if opts.Zones == nil || opts.Settings == nil {
		return nil, errors.New("dnsd: zones and settings are required")
	}
	if opts.Refresh <= 0 {
		opts.Refresh = 500 * time.Millisecond
	}
	if opts.MaxTCPConns <= 0 {
		opts.MaxTCPConns = 256
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Server{opts: opts, log: log, done: make(chan struct{})}, nil
}

// Refresh re-derives the zones from the store and, if they changed,
// replaces the served data and bumps the serial.
func (s *Server) Refresh(ctx context.Context) error {
	z, err := s.opts.Zones.Zones(ctx)
	if err != nil {
		return fmt.Errorf("dnsd: refresh: %w", err)
	}
	hash := hashZones(z)
	serial, err := s.serial(ctx, hash)
	if err != nil {
		return err
	}
	if cur := s.snap.Load(); cur != nil && cur.hash == hash && cur.serial == serial {
		return nil
	}
	snap, errs := buildSnapshot(z, serial, hash)
	for _, e := range errs {
		s.log.Warn("record not served", "err", e)
	}
	for _, r := range snap.unplaced {
		s.log.Warn("static record outside every zone is not served", "name", r.Name, "type", r.Type)
	}
	s.snap.Store(snap)
	s.log.Info("dns data loaded", "serial", serial, "zones", len(snap.zones), "names", len(snap.names))
	return nil
}

// serial returns the serial for data with the given hash: the stored one if
// the stored hash matches, else a new one, greater than the stored serial
// and at least the current Unix time (RFC 1982 arithmetic holds until 2106).
func (s *Server) serial(ctx context.Context, hash string) (uint32, error) {
	var stored uint64
	storedHash := ""
	v, err := s.opts.Settings.Setting(ctx, SerialSetting)
	switch {
	case err == nil:
		num, h, _ := strings.Cut(v, " ")
		if n, perr := strconv.ParseUint(num, 10, 32); perr == nil {
			stored, storedHash = n, h
		}
	case !errors.Is(err, store.ErrNotFound):
		return 0, fmt.Errorf("dnsd: read serial: %w", err)
	}
	if storedHash == hash && stored != 0 {
		return uint32(stored), nil
	}
	next := max(uint32(stored)+1, uint32(s.opts.Now().Unix()))
	if err := s.opts.Settings.SetSetting(ctx, SerialSetting, fmt.Sprintf("%d %s", next, hash)); err != nil {
		return 0, fmt.Errorf("dnsd: write serial: %w", err)
	}
	return next, nil
}

// Serial is the SOA serial being served (0 before the first refresh).
func (s *Server) Serial() uint32 {
	if snap := s.snap.Load(); snap != nil {
		return snap.serial
	}
	return 0
}

// ServeDNS answers one query (dns.Handler).
func (s *Server) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	snap := s.snap.Load()
	if snap == nil {
		m := new(dns.Msg)
		m.SetRcode(req, dns.RcodeServerFailure)
		_ = w.WriteMsg(m)
		return
	}
	_, udp := w.RemoteAddr().(*net.UDPAddr)
	if err := w.WriteMsg(answer(snap, req, udp)); err != nil {
		s.log.Debug("write reply", "remote", w.RemoteAddr().String(), "err", err)
	}
}

// Serve loads the data, listens and answers until ctx is cancelled.
func (s *Server) Serve(ctx context.Context) error {
	if err := s.Start(ctx); err != nil {
		return err
	}
	<-ctx.Done()
	return s.Close()
}

// Start loads the data, opens every listener and returns; the server runs
// until Close. A listen failure closes what was opened and is returned.
func (s *Server) Start(ctx context.Context) error {
	if err := s.Refresh(ctx); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, addr := range s.opts.Listen {
		pc, ln, err := listenPair(addr)
		if err != nil {
			s.shutdownLocked()
			return err
		}
		s.addrs = append(s.addrs, pc.LocalAddr().String())
		for _, srv := range []*dns.Server{
			{PacketConn: pc, UDPSize: dns.MaxMsgSize},
			{Listener: &limitListener{Listener: ln, sem: make(chan struct{}, s.opts.MaxTCPConns)}},
		} {
			srv.Handler = s
			srv.ReadTimeout = 2 * time.Second
			srv.WriteTimeout = 2 * time.Second
			srv.IdleTimeout = func() time.Duration { return 8 * time.Second } // RFC 7766 6.2.3
			srv.MaxTCPQueries = 1000
			s.servers = append(s.servers, srv)
			// Wait until the listener really serves: miekg/dns refuses to
			// Shutdown a server that has not started yet, which would leave
			// a Close racing with a start-up blocked for ever.
			started := make(chan struct{})
			srv.NotifyStartedFunc = func() { close(started) }
			failed := make(chan struct{})
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				if err := srv.ActivateAndServe(); err != nil {
					s.log.Error("dns listener stopped", "err", err)
				}
				close(failed)
			}()
			select {
			case <-started:
			case <-failed:
			}
		}
		s.log.Info("dns listening", "addr", pc.LocalAddr().String(), "net", "udp+tcp")
	}
	s.wg.Add(1)
	go s.refreshLoop(context.WithoutCancel(ctx))
	s.removeReady = metrics.AddReadyCheck("dns data", s.ready)
	return nil
}

// ready fails while no data is served (every answer would be SERVFAIL)
// and once the server is closed.
func (s *Server) ready(context.Context) error {
	select {
	case <-s.done:
		return errors.New("dnsd: closed")
	default:
	}
	if s.snap.Load() == nil {
		return errors.New("dnsd: no data loaded")
	}
	return nil
}

// heartbeatEvery bounds how often a refresh is recorded as the dns-serial
// heartbeat: the refresh runs twice a second, the heartbeat's period is an
// hour.
const heartbeatEvery = time.Minute

// recordHeartbeat notes a successful refresh for the monitor role's
// HeartbeatMissed alert, at most once per heartbeatEvery.
func (s *Server) recordHeartbeat(ctx context.Context, last *time.Time) {
	now := s.opts.Now()
	if !last.IsZero() && now.Sub(*last) < heartbeatEvery {
		return
	}
	if err := monitor.RecordHeartbeat(ctx, s.opts.Settings, "dns-serial", now); err != nil {
		s.log.Warn("dns heartbeat not recorded", "err", err)
		return
	}
	*last = now
}

func (s *Server) refreshLoop(ctx context.Context) {
	defer s.wg.Done()
	t := time.NewTicker(s.opts.Refresh)
	defer t.Stop()
	failing := false
	var lastBeat time.Time
	s.recordHeartbeat(ctx, &lastBeat) // Start has just refreshed
	for {
		select {
		case <-s.done:
			return
		case <-t.C:
		}
		rctx, cancel := context.WithTimeout(ctx, 10*s.opts.Refresh)
		err := s.Refresh(rctx)
		cancel()
		if err != nil && !failing {
			// Keep answering from the last good data; say so once.
			s.log.Error("dns refresh failed; serving the last loaded data", "err", err)
		} else if err == nil && failing {
			s.log.Info("dns refresh recovered")
		}
		failing = err != nil
		if err == nil {
			s.recordHeartbeat(ctx, &lastBeat)
		}
	}
}

// Addrs are the bound addresses (UDP and TCP share each port).
func (s *Server) Addrs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.addrs...)
}

// Close stops the listeners and the refresh loop.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.removeReady != nil {
		s.removeReady()
		s.removeReady = nil
	}
	err := s.shutdownLocked()
	s.mu.Unlock()
	s.wg.Wait()
	return err
}

func (s *Server) shutdownLocked() error {
	select {
	case <-s.done:
	default:
		close(s.done)
	}
	var errs []error
	for _, srv := range s.servers {
		if err := srv.Shutdown(); err != nil {
			errs = append(errs, err)
		}
	}
	s.servers = nil
	return errors.Join(errs...)
}

// listenPair opens UDP and TCP on addr; with port 0 both get the same
// port, retried a few times in case the TCP side is taken.
func listenPair(addr string) (net.PacketConn, net.Listener, error) {
	var lastErr error
	for range 10 {
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			return nil, nil, fmt.Errorf("dnsd: listen udp %s: %w", addr, err)
		}
		ln, err := net.Listen("tcp", pc.LocalAddr().String())
		if err == nil {
			return pc, ln, nil
		}
		pc.Close()
		lastErr = err
		if _, port, _ := net.SplitHostPort(addr); port != "0" {
			break
		}
	}
	return nil, nil, fmt.Errorf("dnsd: listen tcp %s: %w", addr, lastErr)
}

// limitListener bounds concurrent TCP connections: past the limit, Accept
// waits for one to close.
type limitListener struct {
	net.Listener
	sem chan struct{}
}

func (l *limitListener) Accept() (net.Conn, error) {
	l.sem <- struct{}{}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.sem
		return nil, err
	}
	return &limitConn{Conn: c, release: func() { <-l.sem }}, nil
}

type limitConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitConn) Close() error {
	c.once.Do(c.release)
	return c.Conn.Close()
}
