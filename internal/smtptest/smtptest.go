// Package smtptest is a small SMTP server for tests of the outbound tier:
// a real server on a loopback socket (built on go-smtp's server), whose
// behaviour a test switches at run time to accept, defer with a 4xx,
// reject chosen recipients with 5.1.1, greylist the first attempt, answer
// slowly, or drop the connection in the middle of DATA. It records what it
// accepted.
//
// It is in charge of nothing in production; it exists so delivery code is
// tested against a server over a socket rather than against mocks.
package smtptest

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"
)

// Mode is the server's behaviour for new transactions.
type Mode int

const (
	Accept    Mode = iota // 250 to everything
	Defer                 // 451 4.3.0 to every RCPT
	Greylist              // 451 4.7.1 to the first try of each sender/recipient pair
	Slow                  // every reply waits Options.Delay
	DropData              // close the connection in the middle of DATA
	RejectAll             // 554 5.7.1 to MAIL
)

// Message is one accepted message.
type Message struct {
	From       string
	Recipients []string
	Data       []byte
	TLS        bool
	Conn       int // serial number of the connection it came on
}

// Server is a running test server.
type Server struct {
	Addr string // host:port it listens on

	srv *smtp.Server
	ln  net.Listener

	mu       sync.Mutex
	mode     Mode
	delay    time.Duration
	reject   map[string]bool
	seen     map[string]bool // greylist: pairs already tried
	messages []Message
	conns    int
	attempts int // MAIL commands seen
	notify   chan struct{}
}

// Start starts a server on 127.0.0.1 with an ephemeral port. tlsConf, if
// not nil, is offered through STARTTLS.
func Start(tlsConf *tls.Config) (*Server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("smtptest: listen: %w", err)
	}
	s := &Server{Addr: ln.Addr().String(), ln: ln, reject: map[string]bool{}, seen: map[string]bool{}, notify: make(chan struct{}, 1)}
	s.srv = smtp.NewServer(backend{s})
	s.srv.Domain = "mx.test"
	s.srv.ReadTimeout = time.Minute
	s.srv.WriteTimeout = time.Minute
	s.srv.MaxMessageBytes = 32 << 20
	s.srv.MaxRecipients = 1000
	s.srv.AllowInsecureAuth = true
	// Clients that vanish mid-session (crash tests kill them) are expected;
	// their errors are noise here.
	s.srv.ErrorLog = log.New(io.Discard, "", 0)
	if tlsConf != nil {
		s.srv.TLSConfig = tlsConf
	}
	go s.srv.Serve(ln)
	return s, nil
}

// Close stops the server.
func (s *Server) Close() error { return s.srv.Close() }

// SetMode switches the behaviour for the next commands.
func (s *Server) SetMode(m Mode) {
	s.mu.Lock()
	s.mode = m
	s.mu.Unlock()
}

// SetDelay sets how long replies wait in Slow mode.
func (s *Server) SetDelay(d time.Duration) {
	s.mu.Lock()
	s.delay = d
	s.mu.Unlock()
}

// Reject makes RCPT TO for the given addresses fail with 550 5.1.1.
func (s *Server) Reject(addrs ...string) {
	s.mu.Lock()
	for _, a := range addrs {
		s.reject[strings.ToLower(a)] = true
	}
	s.mu.Unlock()
}

// Messages returns a copy of the accepted messages.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.messages...)
}

// Connections returns how many connections were opened so far.
func (s *Server) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns
}

// Attempts returns how many MAIL commands were received so far.
func (s *Server) Attempts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.attempts
}

// WaitMessages waits until at least n messages were accepted, or the
// timeout passes; it returns the messages either way.
func (s *Server) WaitMessages(n int, timeout time.Duration) []Message {
	deadline := time.After(timeout)
	for {
		if m := s.Messages(); len(m) >= n {
			return m
		}
		select {
		case <-s.notify:
		case <-deadline:
			return s.Messages()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

type backend struct{ s *Server }

func (b backend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	b.s.mu.Lock()
	b.s.conns++
	n := b.s.conns
	b.s.mu.Unlock()
	return &session{s: b.s, conn: n, c: c}, nil
}

type session struct {
	s    *Server
	c    *smtp.Conn
	conn int
	from string
	to   []string
}

func (ss *session) state() (Mode, time.Duration) {
	ss.s.mu.Lock()
	defer ss.s.mu.Unlock()
	return ss.s.mode, ss.s.delay
}

func (ss *session) wait() {
	if m, d := ss.state(); m == Slow {
		time.Sleep(d)
	}
}

func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	ss.wait()
	ss.s.mu.Lock()
	ss.s.attempts++
	mode := ss.s.mode
	ss.s.mu.Unlock()
	if mode == RejectAll {
		return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "no mail from you"}
	}
	ss.from, ss.to = from, nil
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.wait()
	s := ss.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.reject[strings.ToLower(to)] {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user here"}
	}
	switch s.mode {
	case Defer:
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"}
	case Greylist:
		key := ss.from + "\x00" + strings.ToLower(to)
		if !s.seen[key] {
			s.seen[key] = true
			return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 7, 1}, Message: "greylisted, come back later"}
		}
	}
	ss.to = append(ss.to, to)
	return nil
}

// errDropped is returned after the server closed the socket in the middle
// of DATA, so the client sees the connection vanish, not a reply.
var errDropped = errors.New("smtptest: dropped mid-DATA")

func (ss *session) Data(r io.Reader) error {
	ss.wait()
	mode, _ := ss.state()
	if mode == DropData {
		buf := make([]byte, 64)
		io.ReadAtLeast(r, buf, 1)
		ss.c.Close()
		return errDropped
	}
	var buf bytes.Buffer
	if _, err := io.Copy(&buf, r); err != nil {
		return err
	}
	_, isTLS := ss.c.TLSConnectionState()
	s := ss.s
	s.mu.Lock()
	s.messages = append(s.messages, Message{From: ss.from, Recipients: append([]string(nil), ss.to...), Data: buf.Bytes(), TLS: isTLS, Conn: ss.conn})
	s.mu.Unlock()
	select {
	case s.notify <- struct{}{}:
	default:
	}
	return nil
}

func (ss *session) Reset()        { ss.from, ss.to = "", nil }
func (ss *session) Logout() error { return nil }
