package delivery

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/cabalmail/cabalmail/internal/config"
	"github.com/cabalmail/cabalmail/internal/queue"
)

// session is one destination's SMTP connection, reused for the jobs that
// follow while it stays healthy.
type session struct {
	r       *Runner
	domain  string
	c       *smtp.Client
	relay   string // host name of the connected server
	relayIP string
}

func (s *session) close() {
	if s.c == nil {
		return
	}
	if err := s.c.Quit(); err != nil {
		s.c.Close()
	}
	s.c = nil
}

// routeFor returns the first configured route for domain, if any.
func (r *Runner) routeFor(domain string) *config.Route {
	for i := range r.opts.Routes {
		rt := &r.opts.Routes[i]
		if rt.Domain == "*" || strings.EqualFold(strings.TrimSuffix(rt.Domain, "."), domain) {
			return rt
		}
	}
	return nil
}

// failure is a connect failure with the outcome it means for every
// recipient.
type failure struct {
	kind  queue.Kind
	code  string
	reply string
}

func (f *failure) Error() string { return f.reply }

// deliver runs one transaction for j's recipients, connecting first if
// needed, and reconnecting once if a reused connection turns out dead.
func (s *session) deliver(ctx context.Context, j *job) []queue.Outcome {
	reused := s.c != nil
	if s.c == nil {
		if f := s.connect(ctx); f != nil {
			return s.all(j, f.kind, f.code, f.reply, false)
		}
	}
	outs, connErr := s.transaction(ctx, j)
	if connErr != nil && reused && outs == nil {
		// The server may have closed an idle connection: try afresh.
		s.drop()
		if f := s.connect(ctx); f != nil {
			return s.all(j, f.kind, f.code, f.reply, false)
		}
		outs, connErr = s.transaction(ctx, j)
	}
	if connErr != nil {
		s.drop()
		if outs == nil {
			return s.all(j, queue.Deferred, "4.4.2", "connection lost: "+connErr.Error(), false)
		}
	}
	return outs
}

func (s *session) drop() {
	if s.c != nil {
		s.c.Close()
		s.c = nil
	}
}

func (s *session) all(j *job, kind queue.Kind, code, reply string, remote bool) []queue.Outcome {
	outs := make([]queue.Outcome, 0, len(j.rcpts))
	for _, rc := range j.rcpts {
		outs = append(outs, queue.Outcome{Rcpt: rc, Kind: kind, DSN: code, Reply: reply, Remote: remote, Relay: s.relay, RelayIP: s.relayIP})
	}
	return outs
}

// connect opens a session to the destination: the route's relay, or the
// MX hosts in order, each address in turn, until one greets us.
func (s *session) connect(ctx context.Context) *failure {
	r := s.r
	if rt := r.routeFor(s.domain); rt != nil {
		host, _, _ := net.SplitHostPort(rt.Relay)
		return s.dialRoute(ctx, rt, host)
	}
	hosts, nullMX, err := r.dns.mxHosts(ctx, s.domain)
	switch {
	case errors.Is(err, errNoDomain):
		// RFC 3463 X.1.2: bad destination system address.
		return &failure{queue.Failed, "5.1.2", fmt.Sprintf("domain %s does not exist", s.domain)}
	case err != nil:
		return &failure{queue.Deferred, "4.4.3", fmt.Sprintf("MX lookup for %s failed: %v", s.domain, err)}
	case nullMX:
		// RFC 7505 4.1: a null MX fails at once with 556 5.1.10.
		return &failure{queue.Failed, "5.1.10", fmt.Sprintf("556 5.1.10 domain %s accepts no mail (null MX)", s.domain)}
	}
	last := &failure{queue.Deferred, "4.4.1", "no MX host answered"}
	for _, h := range hosts {
		ips, err := r.dns.addrs(ctx, h)
		if err != nil {
			last = &failure{queue.Deferred, "4.4.3", fmt.Sprintf("address lookup for %s failed: %v", h, err)}
			continue
		}
		for _, ip := range ips {
			addr := net.JoinHostPort(ip, fmt.Sprint(r.opts.MXPort))
			f := s.dialMX(ctx, h, ip, addr)
			if f == nil {
				return nil
			}
			last = f
			if ctx.Err() != nil {
				return last
			}
		}
	}
	return last
}

// dialMX connects to one MX address with opportunistic STARTTLS: when the
// TLS handshake fails the address is tried again in plain text.
func (s *session) dialMX(ctx context.Context, host, ip, addr string) *failure {
	f := s.open(ctx, host, ip, addr, "opportunistic", nil)
	if f != nil && f.code == "tls" {
		return s.open(ctx, host, ip, addr, "none", nil)
	}
	return f
}

func (s *session) dialRoute(ctx context.Context, rt *config.Route, host string) *failure {
	mode := rt.TLS
	if mode == "" {
		mode = "opportunistic"
	}
	f := s.open(ctx, host, "", rt.Relay, mode, rt)
	if f != nil && f.code == "tls" {
		if mode == "opportunistic" {
			return s.open(ctx, host, "", rt.Relay, "none", rt)
		}
		return &failure{queue.Deferred, "4.7.0", f.reply}
	}
	return f
}

// open dials addr and says EHLO, starting TLS as mode asks: "none",
// "opportunistic" (STARTTLS if offered, unverified), "starttls" (required,
// verified) or "tls" (implicit TLS, verified). It authenticates when the
// route has a user name. A TLS failure comes back with code "tls".
func (s *session) open(ctx context.Context, host, ip, addr, mode string, rt *config.Route) *failure {
	r := s.r
	d := net.Dialer{Timeout: r.opts.ConnectTimeout}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return &failure{queue.Deferred, "4.4.1", fmt.Sprintf("connect to %s [%s]: %v", host, addr, err)}
	}
	if ip == "" {
		if ta, ok := conn.RemoteAddr().(*net.TCPAddr); ok {
			ip = ta.IP.String()
		}
	}
	tlsConf := r.tlsConfig(host, mode != "opportunistic")
	if mode == "tls" {
		tc := tls.Client(conn, tlsConf)
		tc.SetDeadline(time.Now().Add(r.opts.CommandTimeout))
		if err := tc.HandshakeContext(ctx); err != nil {
			conn.Close()
			return &failure{queue.Deferred, "tls", fmt.Sprintf("TLS with %s: %v", host, err)}
		}
		tc.SetDeadline(time.Time{})
		conn = tc
	}
	wantTLS := mode == "opportunistic" || mode == "starttls"
	cc, tlsOn, err := opening(ctx, conn, r.opts.Hostname, wantTLS, tlsConf, r.opts.CommandTimeout)
	if err != nil {
		conn.Close()
		var te *tlsError
		if errors.As(err, &te) {
			return &failure{queue.Deferred, "tls", fmt.Sprintf("STARTTLS with %s: %v", host, err)}
		}
		var ge *greetingError
		if errors.As(err, &ge) {
			return &failure{queue.Deferred, "4.4.1", fmt.Sprintf("%s greeted with: %d %s", host, ge.code, ge.text)}
		}
		return &failure{queue.Deferred, "4.4.1", fmt.Sprintf("%s: %v", host, err)}
	}
	if mode == "starttls" && !tlsOn {
		conn.Close()
		return &failure{queue.Deferred, "tls", fmt.Sprintf("%s does not offer STARTTLS", host)}
	}
	c := smtp.NewClient(cc)
	c.CommandTimeout = r.opts.CommandTimeout        // RFC 5321 4.5.3.2.1-4: 5 minutes
	c.SubmissionTimeout = 2 * r.opts.CommandTimeout // RFC 5321 4.5.3.2.6: 10 minutes
	if err := c.Hello(r.opts.Hostname); err != nil {
		c.Close()
		return s.greetFailure(host, err)
	}
	if rt != nil && rt.Username != "" {
		if err := c.Auth(sasl.NewPlainClient("", rt.Username, rt.Password)); err != nil {
			c.Close()
			return &failure{queue.Deferred, "4.7.0", fmt.Sprintf("AUTH at %s: %v", host, err)}
		}
	}
	s.c, s.relay, s.relayIP = c, host, ip
	return nil
}

// greetFailure turns a failed greeting or EHLO into an outcome: the next
// host is tried either way, and if none answers the recipients are
// deferred (RFC 5321 5.1 and 3.9: a 5xx greeting of one MX says nothing
// definite about the recipient).
func (s *session) greetFailure(host string, err error) *failure {
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		return &failure{queue.Deferred, "4.4.1", fmt.Sprintf("%s greeted with: %s", host, replyText(se))}
	}
	return &failure{queue.Deferred, "4.4.1", fmt.Sprintf("%s: %v", host, err)}
}

func (r *Runner) tlsConfig(host string, verify bool) *tls.Config {
	var c *tls.Config
	if r.opts.TLSConfig != nil {
		c = r.opts.TLSConfig.Clone()
	} else {
		c = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	c.ServerName = host
	if !verify {
		// RFC 7435: opportunistic encryption without authentication.
		c.InsecureSkipVerify = true
	}
	return c
}

// transaction sends one message to j's recipients on the open connection.
// connErr is set when the connection can no longer be used; outs is nil
// when nothing was learnt about any recipient.
func (s *session) transaction(ctx context.Context, j *job) (outs []queue.Outcome, connErr error) {
	c := s.c
	w := j.msg.work
	if err := c.Mail(w.Sender, nil); err != nil {
		var se *smtp.SMTPError
		if !errors.As(err, &se) {
			return nil, err
		}
		outs = s.all(j, kindOf(se), codeOf(se), replyText(se), true)
		return outs, s.reset()
	}
	var accepted []string
	for _, rc := range j.rcpts {
		if err := c.Rcpt(rc, nil); err != nil {
			var se *smtp.SMTPError
			if !errors.As(err, &se) {
				return nil, err
			}
			outs = append(outs, queue.Outcome{Rcpt: rc, Kind: kindOf(se), DSN: codeOf(se), Reply: replyText(se), Remote: true,
				Relay: s.relay, RelayIP: s.relayIP})
			continue
		}
		accepted = append(accepted, rc)
	}
	if len(accepted) == 0 {
		return outs, s.reset()
	}
	body, err := s.r.q.Body(ctx, w)
	if err != nil {
		if rerr := s.reset(); rerr != nil {
			return nil, rerr
		}
		for _, rc := range accepted {
			outs = append(outs, queue.Outcome{Rcpt: rc, Kind: queue.Deferred, DSN: "4.3.0", Reply: "message body unreadable: " + err.Error()})
		}
		return outs, nil
	}
	defer body.Close()
	var sig string
	if w.SignDomain != "" {
		sig, err = j.msg.signature(ctx, s.r.sign, body)
		if err == nil {
			_, err = body.Seek(0, io.SeekStart)
		}
		if err != nil {
			if rerr := s.reset(); rerr != nil {
				return nil, rerr
			}
			for _, rc := range accepted {
				outs = append(outs, queue.Outcome{Rcpt: rc, Kind: queue.Deferred, DSN: "4.3.0", Reply: "DKIM signing failed: " + err.Error()})
			}
			return outs, nil
		}
	}
	wc, err := c.Data()
	if err != nil {
		var se *smtp.SMTPError
		if !errors.As(err, &se) {
			return nil, err
		}
		for _, rc := range accepted {
			outs = append(outs, queue.Outcome{Rcpt: rc, Kind: kindOf(se), DSN: codeOf(se), Reply: replyText(se), Remote: true, Relay: s.relay, RelayIP: s.relayIP})
		}
		return outs, s.reset()
	}
	if _, err := io.WriteString(wc, sig); err != nil {
		return nil, err
	}
	if _, err := io.Copy(wc, body); err != nil {
		return nil, err
	}
	resp, err := wc.CloseWithResponse()
	if err != nil {
		var se *smtp.SMTPError
		if !errors.As(err, &se) {
			return nil, err
		}
		for _, rc := range accepted {
			outs = append(outs, queue.Outcome{Rcpt: rc, Kind: kindOf(se), DSN: codeOf(se), Reply: replyText(se), Remote: true, Relay: s.relay, RelayIP: s.relayIP})
		}
		return outs, nil
	}
	reply := "250 " + resp.StatusText
	for _, rc := range accepted {
		outs = append(outs, queue.Outcome{Rcpt: rc, Kind: queue.Delivered, DSN: "2.0.0", Reply: reply, Remote: true, Relay: s.relay, RelayIP: s.relayIP})
	}
	return outs, nil
}

func (s *session) reset() error {
	if err := s.c.Reset(); err != nil {
		return err
	}
	return nil
}

// kindOf classifies a reply: 5xx fails, anything else defers.
func kindOf(se *smtp.SMTPError) queue.Kind {
	if se.Code/100 == 5 {
		return queue.Failed
	}
	return queue.Deferred
}

// codeOf returns the reply's enhanced status code (RFC 3463), or class.0.0
// when the server gave none.
func codeOf(se *smtp.SMTPError) string {
	e := se.EnhancedCode
	if e == smtp.EnhancedCodeNotSet || e == smtp.NoEnhancedCode || e[0] < 2 || e[0] > 5 {
		class := se.Code / 100
		if class != 5 {
			class = 4
		}
		return fmt.Sprintf("%d.0.0", class)
	}
	return fmt.Sprintf("%d.%d.%d", e[0], e[1], e[2])
}

// replyText renders a reply as the server sent it: "550 5.1.1 message".
func replyText(se *smtp.SMTPError) string {
	msg := strings.ReplaceAll(se.Message, "\n", " ")
	e := se.EnhancedCode
	if e == smtp.EnhancedCodeNotSet || e == smtp.NoEnhancedCode {
		return fmt.Sprintf("%d %s", se.Code, msg)
	}
	return fmt.Sprintf("%d %d.%d.%d %s", se.Code, e[0], e[1], e[2], msg)
}
