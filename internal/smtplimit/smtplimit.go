// Package smtplimit is in charge of the connection limits both SMTP tiers
// (smtp-in and the submission side of smtp-out) put on their listeners: how
// many connections one client address and all clients together may hold,
// how long a connection may sit between reads (RFC 5321 4.5.3.2.7: the
// server waits at least five minutes for each command and each chunk of
// data), how long it may live in all, and a way for a session to end the
// connection after the reply it is writing.
//
// It knows nothing of SMTP commands or sessions; those stay in the tiers.
package smtplimit

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Gauge counts open connections; a Prometheus gauge fits.
type Gauge interface {
	Inc()
	Dec()
}

// Options are the limits of one listener.
type Options struct {
	MaxPerIP, MaxTotal int
	Idle               time.Duration // longest wait for each read
	Lifetime           time.Duration // longest life of a connection
	Open               Gauge         // open connections; nil: not counted
	OnReject           func(ip string)
}

// Listener enforces the limits and wraps every connection in a *Conn.
type Listener struct {
	net.Listener
	opts Options

	mu    sync.Mutex
	perIP map[string]int
	total int
}

// NewListener wraps l with the limits of o.
func NewListener(l net.Listener, o Options) *Listener {
	if o.Open == nil {
		o.Open = noGauge{}
	}
	return &Listener{Listener: l, opts: o, perIP: map[string]int{}}
}

// Accept returns the next connection within the limits; one over them is
// told so and closed.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := RemoteIP(c.RemoteAddr())
		if !l.admit(ip) {
			// RFC 5321 3.8: 421 and close when the service cannot go on. On
			// an implicit-TLS port the client sees a failed handshake.
			_ = c.SetWriteDeadline(time.Now().Add(5 * time.Second))
			_, _ = io.WriteString(c, "421 4.7.0 too many connections from your address, try again later\r\n")
			_ = c.Close()
			if l.opts.OnReject != nil {
				l.opts.OnReject(ip)
			}
			continue
		}
		return &Conn{Conn: c, l: l, ip: ip, deadline: time.Now().Add(l.opts.Lifetime)}, nil
	}
}

func (l *Listener) admit(ip string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.perIP[ip] >= l.opts.MaxPerIP || l.total >= l.opts.MaxTotal {
		return false
	}
	l.perIP[ip]++
	l.total++
	l.opts.Open.Inc()
	return true
}

func (l *Listener) release(ip string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total--
	l.opts.Open.Dec()
	if l.perIP[ip]--; l.perIP[ip] <= 0 {
		delete(l.perIP, ip)
	}
}

// Conn gives every read a fresh deadline of Options.Idle, bounded by the
// connection's lifetime, and can be told to end the session after the
// reply being written.
type Conn struct {
	net.Conn
	l        *Listener
	ip       string
	deadline time.Time
	closing  atomic.Bool
	once     sync.Once
}

// EndAfterReply makes the next read see end of file, so the session ends
// once the reply being written has gone out.
func (c *Conn) EndAfterReply() { c.closing.Store(true) }

func (c *Conn) Read(b []byte) (int, error) {
	if c.closing.Load() {
		return 0, io.EOF
	}
	d := time.Now().Add(c.l.opts.Idle)
	if d.After(c.deadline) {
		d = c.deadline
	}
	if err := c.Conn.SetReadDeadline(d); err != nil {
		return 0, err
	}
	return c.Conn.Read(b)
}

// SetReadDeadline is ignored: Read sets its own.
func (c *Conn) SetReadDeadline(time.Time) error { return nil }

// Close closes the connection and frees its place under the limits once.
func (c *Conn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.release(c.ip) })
	return err
}

// RemoteIP is the address of a connection's peer without the port.
func RemoteIP(a net.Addr) string {
	if t, ok := a.(*net.TCPAddr); ok {
		return t.IP.String()
	}
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return host
}

// Mirrored moves several gauges together (a tier's own connection gauge
// and the shared cabalmail_connections{tier}).
type Mirrored []Gauge

func (m Mirrored) Inc() {
	for _, g := range m {
		g.Inc()
	}
}

func (m Mirrored) Dec() {
	for _, g := range m {
		g.Dec()
	}
}

type noGauge struct{}

func (noGauge) Inc() {}
func (noGauge) Dec() {}
