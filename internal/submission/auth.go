package submission

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"time"

	"github.com/cabalmail/cabalmail/internal/accounts"
	"github.com/cabalmail/cabalmail/internal/metrics"
	"github.com/emersion/go-sasl"
)

// authFailuresPerConn is how many failed logins end a connection.
const authFailuresPerConn = 3

// authAllowed reports whether this session may authenticate: over TLS, or
// in development mode from loopback.
func (ss *session) authAllowed() bool {
	if ss.tls {
		return true
	}
	return ss.s.opts.Dev && ss.remoteIP != nil && ss.remoteIP.IsLoopback()
}

// AuthMechanisms implements smtp.AuthSession. Nothing is advertised before
// TLS (RFC 4954 4: a server should not offer plain-text mechanisms over an
// unencrypted link).
func (ss *session) AuthMechanisms() []string {
	if !ss.authAllowed() {
		return nil
	}
	return []string{sasl.Plain, sasl.Login}
}

// Auth implements smtp.AuthSession.
func (ss *session) Auth(mech string) (sasl.Server, error) {
	if !ss.authAllowed() {
		return nil, replyEncryptionRequired.err()
	}
	if ss.s.failures.throttled(ss.remoteIP.String()) {
		ss.s.log.Warn("login refused: too many recent failures from this address", "tier", tier, "ip", ss.remoteIP.String())
		return nil, replyAuthThrottled.err()
	}
	switch mech {
	case sasl.Plain:
		// RFC 4616 2: message = [authzid] NUL authcid NUL passwd.
		return &plainServer{ss: ss}, nil
	case sasl.Login:
		return &loginServer{ss: ss}, nil
	}
	return nil, replyUnknownMech.err()
}

// plainServer is the server side of SASL PLAIN (RFC 4616). go-sasl has one
// too, but its errors cannot carry our SMTP replies.
type plainServer struct {
	ss   *session
	done bool
}

func (p *plainServer) Next(response []byte) ([]byte, bool, error) {
	if response == nil && !p.done {
		p.done = true
		return []byte{}, false, nil // RFC 4954 4: empty challenge asks for the response
	}
	parts := bytes.Split(response, []byte{0})
	if len(parts) != 3 {
		return nil, false, replyAuthMalformed.err()
	}
	authz, user, pass := string(parts[0]), string(parts[1]), string(parts[2])
	// RFC 4616 2: we do not let one user act for another.
	if authz != "" && authz != user {
		return nil, false, p.ss.loginFailed(user, "authorization identity differs from the user")
	}
	return nil, true, p.ss.login(user, pass)
}

// loginServer is the server side of the obsolete but widespread LOGIN
// mechanism (draft-murchison-sasl-login): "Username:" then "Password:".
type loginServer struct {
	ss    *session
	step  int
	user  string
	begun bool
}

func (l *loginServer) Next(response []byte) ([]byte, bool, error) {
	if !l.begun {
		l.begun = true
		if response == nil {
			return []byte("Username:"), false, nil
		}
		// An initial response carries the user name.
	}
	switch l.step {
	case 0:
		l.user = string(response)
		l.step = 1
		return []byte("Password:"), false, nil
	default:
		return nil, true, l.ss.login(l.user, string(response))
	}
}

// login checks the credentials and makes the session's user.
func (ss *session) login(name, password string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	u, err := ss.s.opts.Accounts.Authenticate(ctx, name, password)
	switch {
	case err == nil:
		ss.user = &u
		ss.s.metrics.authOK.Inc()
		ss.s.log.Info("login", "tier", tier, "user", u.Name, "tls", ss.tls)
		return nil
	case errors.Is(err, accounts.ErrBadCredentials):
		return ss.loginFailed(name, "bad user name or password")
	case errors.Is(err, accounts.ErrDisabled), errors.Is(err, accounts.ErrPending):
		// The password was right; still the same answer, so the state of
		// an account is not told to the network.
		return ss.loginFailed(name, err.Error())
	case errors.Is(err, accounts.ErrBusy):
		// Too many password checks under way: a temporary failure, not
		// a wrong password (RFC 4954 6).
		ss.s.log.Warn("login: check credentials", "tier", tier, "user", name, "err", err)
		return replyAuthTempFail.err()
	default:
		ss.s.log.Error("login: check credentials", "tier", tier, "user", name, "err", err)
		return replyAuthTempFail.err()
	}
}

// loginFailed counts a failure, waits for the penalty and answers 535 (or
// 421 and closes, after too many on this connection).
func (ss *session) loginFailed(name, why string) error {
	ip := ss.remoteIP.String()
	n := ss.s.failures.add(ip)
	ss.authFailures++
	ss.s.metrics.authFailures.Inc()
	metrics.AuthFailure(tier)
	ss.s.log.Warn("login failed", "tier", tier, "user", name, "ip", ip, "reason", why, "recent_failures", n)
	time.Sleep(ss.s.failures.penalty(n))
	if ss.authFailures >= authFailuresPerConn {
		if ss.idle != nil {
			ss.idle.EndAfterReply()
		}
		return replyTooManyFailures.err()
	}
	return replyBadCredentials.err()
}

// failureTracker counts recent failed logins per client IP address, for
// the growing delay and the refusal past a limit.
type failureTracker struct {
	window time.Duration // how long a failure counts
	limit  int           // failures in the window past which logins are refused
	delay  time.Duration // penalty of the first failure; doubles with each, up to maxDelay
	max    time.Duration
	now    func() time.Time

	mu   sync.Mutex
	byIP map[string][]time.Time
}

// recent drops failures older than the window; mu must be held.
func (f *failureTracker) recent(ip string) []time.Time {
	cut := f.now().Add(-f.window)
	ts := f.byIP[ip]
	i := 0
	for i < len(ts) && ts[i].Before(cut) {
		i++
	}
	ts = ts[i:]
	if len(ts) == 0 {
		delete(f.byIP, ip)
		return nil
	}
	f.byIP[ip] = ts
	return ts
}

func (f *failureTracker) add(ip string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	ts := append(f.recent(ip), f.now())
	f.byIP[ip] = ts
	if len(f.byIP) > 100000 { // bound memory under a spray of addresses
		for k := range f.byIP {
			if k != ip {
				delete(f.byIP, k)
				break
			}
		}
	}
	return len(ts)
}

func (f *failureTracker) throttled(ip string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.recent(ip)) >= f.limit
}

// penalty is the wait after the n-th recent failure.
func (f *failureTracker) penalty(n int) time.Duration {
	d := f.delay
	for i := 1; i < n && d < f.max; i++ {
		d *= 2
	}
	return min(d, f.max)
}
