package monitor

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"
)

// Probe kinds: each talks to a listener as a client would.
const (
	KindSMTP         = "smtp"          // TCP connect and the 220 greeting (RFC 5321 4.3.1)
	KindSMTPStartTLS = "smtp-starttls" // greeting, EHLO, STARTTLS (RFC 3207 4), TLS handshake
	KindTLS          = "tls"           // implicit TLS handshake (465, 993); certificate expiry recorded
	KindIMAPStartTLS = "imap-starttls" // greeting, STARTTLS (RFC 9051 6.2.1), TLS handshake
	KindHTTP         = "http"          // GET answering the wanted status
)

// Probe is one check of one listener.
type Probe struct {
	Tier       string // the tier of the listener
	Kind       string
	Target     string // host:port, or the URL for KindHTTP
	WantStatus int    // KindHTTP: the status that means healthy (200 for the web app, 401 for the API)
	ServerName string // TLS server name; default the target's host
}

// Name is the probe's label: "<tier> <kind> <target>".
func (p Probe) Name() string { return p.Tier + " " + p.Kind + " " + p.Target }

// result is one run of a probe.
type result struct {
	err      error
	duration time.Duration
	notAfter time.Time // the leaf certificate's expiry, when TLS was spoken
	certName string
}

// probeTimeout bounds one probe run.
const probeTimeout = 10 * time.Second

// run performs the probe once.
func (p Probe) run(ctx context.Context, client *http.Client) result {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	start := time.Now()
	var r result
	switch p.Kind {
	case KindHTTP:
		r.err = p.runHTTP(ctx, client)
	default:
		r = p.runConn(ctx)
	}
	r.duration = time.Since(start)
	return r
}

func (p Probe) runHTTP(ctx context.Context, client *http.Client) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.Target, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	_ = resp.Body.Close()
	if resp.StatusCode != p.WantStatus {
		return fmt.Errorf("status %d, want %d", resp.StatusCode, p.WantStatus)
	}
	return nil
}

func (p Probe) runConn(ctx context.Context) result {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", p.Target)
	if err != nil {
		return result{err: err}
	}
	defer func() { _ = conn.Close() }()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	br := bufio.NewReader(conn)
	switch p.Kind {
	case KindSMTP:
		_, err := smtpReply(br, "220")
		return result{err: err}
	case KindSMTPStartTLS:
		if _, err := smtpReply(br, "220"); err != nil {
			return result{err: err}
		}
		if _, err := fmt.Fprintf(conn, "EHLO monitor.invalid\r\n"); err != nil {
			return result{err: err}
		}
		ehlo, err := smtpReply(br, "250")
		if err != nil {
			return result{err: fmt.Errorf("EHLO: %w", err)}
		}
		if !strings.Contains(strings.ToUpper(ehlo), "STARTTLS") {
			return result{err: fmt.Errorf("EHLO reply does not offer STARTTLS")}
		}
		if _, err := fmt.Fprintf(conn, "STARTTLS\r\n"); err != nil {
			return result{err: err}
		}
		if _, err := smtpReply(br, "220"); err != nil {
			return result{err: fmt.Errorf("STARTTLS: %w", err)}
		}
		return p.handshake(ctx, conn)
	case KindIMAPStartTLS:
		line, err := br.ReadString('\n')
		if err != nil {
			return result{err: err}
		}
		if !strings.HasPrefix(line, "* OK") {
			return result{err: fmt.Errorf("greeting %q", strings.TrimSpace(line))}
		}
		if _, err := fmt.Fprintf(conn, "m1 STARTTLS\r\n"); err != nil {
			return result{err: err}
		}
		for {
			line, err = br.ReadString('\n')
			if err != nil {
				return result{err: err}
			}
			if strings.HasPrefix(line, "m1 ") {
				break
			}
		}
		if !strings.HasPrefix(line, "m1 OK") {
			return result{err: fmt.Errorf("STARTTLS: %q", strings.TrimSpace(line))}
		}
		return p.handshake(ctx, conn)
	case KindTLS:
		return p.handshake(ctx, conn)
	}
	return result{err: fmt.Errorf("unknown probe kind %q", p.Kind)}
}

// handshake speaks TLS and records the leaf certificate's expiry. The
// chain is not verified here: a self-signed or expiring certificate is
// reported through its expiry (CertExpiring), not as a dead listener.
func (p Probe) handshake(ctx context.Context, conn net.Conn) result {
	name := p.ServerName
	if name == "" {
		name, _, _ = net.SplitHostPort(p.Target)
	}
	tc := tls.Client(conn, &tls.Config{ServerName: name, InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}) // #nosec G402 -- expiry is checked, see above
	if err := tc.HandshakeContext(ctx); err != nil {
		return result{err: fmt.Errorf("TLS handshake: %w", err)}
	}
	certs := tc.ConnectionState().PeerCertificates
	if len(certs) == 0 {
		return result{err: fmt.Errorf("TLS: no certificate")}
	}
	leaf := certs[0]
	cn := leaf.Subject.CommonName
	if len(leaf.DNSNames) > 0 {
		cn = leaf.DNSNames[0]
	}
	return result{notAfter: leaf.NotAfter, certName: cn}
}

// smtpReply reads one (possibly multi-line, RFC 5321 4.2.1) reply and
// checks its code.
func smtpReply(br *bufio.Reader, want string) (string, error) {
	var all strings.Builder
	for range 100 {
		line, err := br.ReadString('\n')
		if err != nil {
			return all.String(), err
		}
		all.WriteString(line)
		if len(line) < 4 {
			return all.String(), fmt.Errorf("short reply line %q", strings.TrimSpace(line))
		}
		if line[3] == '-' {
			continue
		}
		if line[:3] != want {
			return all.String(), fmt.Errorf("reply %q, want %s", strings.TrimSpace(line), want)
		}
		return all.String(), nil
	}
	return all.String(), fmt.Errorf("reply longer than 100 lines")
}
