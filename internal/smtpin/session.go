package smtpin

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime/debug"
	"strings"
	"time"

	"github.com/cabalmail/cabalmail/internal/addresses"
	"github.com/cabalmail/cabalmail/internal/authres"
	"github.com/cabalmail/cabalmail/internal/mailbox"
	"github.com/cabalmail/cabalmail/internal/smtplimit"
	"github.com/cabalmail/cabalmail/internal/store"
	"github.com/emersion/go-smtp"
)

// session is one SMTP session (from EHLO, or from STARTTLS, to QUIT).
type session struct {
	s        *Server
	conn     *smtp.Conn
	idle     *smtplimit.Conn // nil if the connection did not come through our listener
	remoteIP net.IP
	helo     string
	tls      bool
	commands int

	// The current transaction.
	id       string // queue ID in the mail log
	from     string
	utf8     bool
	size     int64 // the SIZE parameter, 0 if none
	started  time.Time
	rcpts    []accepted
	rcptSeen map[string]bool
	// spf receives the SPF verdict, checked from MAIL FROM on while the
	// client sends the rest.
	spf chan authres.SPFVerdict
}

// accepted is a recipient we said 250 to.
type accepted struct {
	rcpt string // as the client gave it
	addr store.Address
}

func (s *Server) newSession(c *smtp.Conn) *session {
	ss := &session{s: s, conn: c}
	nc := c.Conn()
	if tc, ok := nc.(interface{ NetConn() net.Conn }); ok {
		ss.tls = true
		nc = tc.NetConn()
	}
	ss.idle, _ = nc.(*smtplimit.Conn)
	if a, ok := nc.RemoteAddr().(*net.TCPAddr); ok {
		ss.remoteIP = a.IP
	}
	ss.helo = c.Hostname()
	return ss
}

// count enforces MaxCommands; past it the session ends after the reply.
func (ss *session) count() error {
	ss.commands++
	if ss.commands <= ss.s.opts.MaxCommands {
		return nil
	}
	if ss.idle != nil {
		ss.idle.EndAfterReply()
	}
	return replyTooMany.err()
}

// answer turns a reply into the session's error, applying the tempfail
// switch, and records it in the mail log when rcpt is set.
func (ss *session) answer(ctx context.Context, r reply, rcpt string) error {
	if r.code/100 == 5 {
		tf, err := ss.s.tempfail.get(ctx)
		switch {
		case err != nil:
			// Unsure whether the operator wants 5xx answers held back:
			// hold them back.
			r = replyLocalError
		case tf.On:
			r = r.tempfailed()
		}
	}
	if rcpt != "" {
		ss.s.metrics.recipients.WithLabelValues(r.dsn()).Inc()
		ss.logEvent(ctx, rcpt, r, 0)
	}
	return r.err()
}

// Mail implements smtp.Session (RFC 5321 4.1.1.2).
func (ss *session) Mail(from string, opts *smtp.MailOptions) error {
	if err := ss.count(); err != nil {
		return err
	}
	ss.resetTransaction()
	ss.id = newQueueID()
	ss.from = from
	ss.started = time.Now()
	if opts != nil {
		ss.utf8 = opts.UTF8
		ss.size = opts.Size
	}
	spf := make(chan authres.SPFVerdict, 1)
	ss.spf = spf
	env := ss.envelope()
	go func() {
		spf <- ss.s.auth.CheckSPF(context.Background(), env)
	}()
	return nil
}

func (ss *session) envelope() authres.Envelope {
	return authres.Envelope{RemoteIP: ss.remoteIP, Helo: ss.helo, MailFrom: ss.from}
}

// Rcpt implements smtp.Session (RFC 5321 4.1.1.3). The verdict is read
// from the store now, so a revoke or suspend applies at once.
func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) (err error) {
	if err := ss.count(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	defer ss.recoverAs(&err, to)
	r, row := ss.verdict(ctx, to)
	if r.code != 250 {
		return ss.answer(ctx, r, to)
	}
	key := row.Address
	if !ss.rcptSeen[key] {
		ss.rcptSeen[key] = true
		ss.rcpts = append(ss.rcpts, accepted{rcpt: to, addr: row})
	}
	ss.s.metrics.recipients.WithLabelValues("2.1.5").Inc()
	return nil
}

var replyOK = reply{code: 250}

// verdict decides the RCPT answer.
func (ss *session) verdict(ctx context.Context, to string) (reply, store.Address) {
	hosted, err := ss.hostedDomain(ctx, to)
	if err != nil {
		ss.s.log.Error("rcpt: list domains", "tier", tier, "id", ss.id, "err", err)
		return replyLocalError, store.Address{}
	}
	if !hosted {
		return replyRelayDenied, store.Address{}
	}
	v, row, err := ss.s.opts.Addresses.Recipient(ctx, to)
	if err != nil {
		ss.s.log.Error("rcpt: look up recipient", "tier", tier, "id", ss.id, "rcpt", to, "err", err)
		return replyLocalError, store.Address{}
	}
	switch v {
	case addresses.Suspended:
		return replySuspended, row
	case addresses.Deliver:
	default:
		return replyUnknown, row
	}
	if len(row.Holders) == 0 {
		return replyUnknown, row
	}
	// Refuse for now if every holder is over quota (RFC 3463 X.2.2).
	full := 0
	for _, h := range row.Holders {
		err := ss.s.opts.Mailboxes.CheckQuota(ctx, h.UserID, ss.size)
		switch {
		case errors.Is(err, mailbox.ErrOverQuota):
			full++
		case err != nil:
			ss.s.log.Error("rcpt: check quota", "tier", tier, "id", ss.id, "rcpt", to, "err", err)
			return replyLocalError, row
		}
	}
	if full == len(row.Holders) {
		return replyOverQuota, row
	}
	return replyOK, row
}

// hostedDomain reports whether the recipient's domain is one of our apexes
// or below one; anything else would be relaying.
func (ss *session) hostedDomain(ctx context.Context, to string) (bool, error) {
	i := strings.LastIndexByte(to, '@')
	if i < 0 {
		return false, nil
	}
	domain := strings.ToLower(strings.TrimSuffix(to[i+1:], "."))
	return ss.s.apexes.hosted(ctx, domain)
}

// Data implements smtp.Session (RFC 5321 4.1.1.4; RFC 3030 for BDAT).
func (ss *session) Data(r io.Reader) (err error) {
	ctx, cancel := context.WithTimeout(context.Background(), ss.s.opts.DeliveryTimeout)
	defer cancel()
	defer ss.recoverAs(&err, "")
	msg, bad := scanMessage(r, ss.s.opts.MaxMessageSize)
	if bad != nil {
		_, _ = io.Copy(io.Discard, r) // read to the real end before answering
		return ss.finish(ctx, *bad)
	}
	return ss.finish(ctx, ss.deliver(ctx, msg))
}

// finish answers the end of data for every recipient.
func (ss *session) finish(ctx context.Context, r reply) error {
	if r.code/100 == 5 {
		tf, err := ss.s.tempfail.get(ctx)
		switch {
		case err != nil:
			r = replyLocalError
		case tf.On:
			r = r.tempfailed()
		}
	}
	ss.s.metrics.transactions.WithLabelValues(r.dsn()).Inc()
	if r.code == 250 {
		// go-smtp sends an SMTPError's code as is, 250 included, which
		// lets the reply name the queue ID of the mail log.
		return &smtp.SMTPError{Code: 250, EnhancedCode: smtp.EnhancedCode{2, 0, 0}, Message: "delivered as " + ss.id}
	}
	for _, a := range ss.rcpts {
		ss.logEvent(ctx, a.rcpt, r, time.Since(ss.started))
	}
	return r.err()
}

// recoverAs turns a panic into 451 4.3.0: our own fault is never a 5xx.
func (ss *session) recoverAs(err *error, rcpt string) {
	if p := recover(); p != nil {
		ss.s.log.Error("panic in SMTP session", "tier", tier, "id", ss.id, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
		if rcpt != "" {
			ss.logEvent(context.Background(), rcpt, replyLocalError, 0)
		}
		*err = replyLocalError.err()
	}
}

// Reset implements smtp.Session (RSET, and after each transaction).
func (ss *session) Reset() {
	ss.resetTransaction()
}

func (ss *session) resetTransaction() {
	ss.id, ss.from, ss.utf8, ss.size, ss.spf = "", "", false, 0, nil
	ss.rcpts = nil
	ss.rcptSeen = map[string]bool{}
}

// Logout implements smtp.Session.
func (ss *session) Logout() error { return nil }

func newQueueID() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
