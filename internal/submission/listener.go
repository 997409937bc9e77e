package submission

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// limitListener enforces the connection limits (per client IP and in
// total) and wraps every connection in an idleConn.
type limitListener struct {
	net.Listener
	maxPerIP, maxTotal int
	idle, lifetime     time.Duration
	onReject           func(ip string)
	open               interface {
		Inc()
		Dec()
	}

	mu    sync.Mutex
	perIP map[string]int
	total int
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := remoteIP(c.RemoteAddr())
		if !l.admit(ip) {
			// RFC 5321 3.8: 421 and close when the service cannot go on.
			// On the implicit-TLS port the client sees a failed handshake.
			_ = c.SetWriteDeadline(time.Now().Add(5 * time.Second))
			_, _ = io.WriteString(c, "421 4.7.0 too many connections from your address, try again later\r\n")
			_ = c.Close()
			if l.onReject != nil {
				l.onReject(ip)
			}
			continue
		}
		return &idleConn{Conn: c, l: l, ip: ip, idle: l.idle, deadline: time.Now().Add(l.lifetime)}, nil
	}
}

func (l *limitListener) admit(ip string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.perIP[ip] >= l.maxPerIP || l.total >= l.maxTotal {
		return false
	}
	l.perIP[ip]++
	l.total++
	l.open.Inc()
	return true
}

func (l *limitListener) release(ip string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total--
	l.open.Dec()
	if l.perIP[ip]--; l.perIP[ip] <= 0 {
		delete(l.perIP, ip)
	}
}

// idleConn gives every read a fresh deadline of idle (RFC 5321 4.5.3.2.7),
// bounded by an overall connection lifetime, and can be told to end the
// session after the reply being written.
type idleConn struct {
	net.Conn
	l        *limitListener
	ip       string
	idle     time.Duration
	deadline time.Time
	closing  atomic.Bool
	once     sync.Once
}

func (c *idleConn) Read(b []byte) (int, error) {
	if c.closing.Load() {
		return 0, io.EOF
	}
	d := time.Now().Add(c.idle)
	if d.After(c.deadline) {
		d = c.deadline
	}
	if err := c.Conn.SetReadDeadline(d); err != nil {
		return 0, err
	}
	return c.Conn.Read(b)
}

// SetReadDeadline is ignored: Read sets its own.
func (c *idleConn) SetReadDeadline(time.Time) error { return nil }

func (c *idleConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.release(c.ip) })
	return err
}

func remoteIP(a net.Addr) string {
	if t, ok := a.(*net.TCPAddr); ok {
		return t.IP.String()
	}
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return host
}
