package submission

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime/debug"
	"strings"
	"time"

	"github.com/cabalmail/cabalmail/internal/dkim"
	"github.com/cabalmail/cabalmail/internal/queue"
	"github.com/cabalmail/cabalmail/internal/smtplimit"
	"github.com/cabalmail/cabalmail/internal/store"
	"github.com/emersion/go-smtp"
)

// session is one SMTP session (from EHLO, or from STARTTLS, to QUIT).
type session struct {
	s            *Server
	idle         *smtplimit.Conn // nil if the connection did not come through our listener
	remoteIP     net.IP
	helo         string
	tls          bool
	user         *store.User // nil until AUTH succeeds
	authFailures int
	commands     int

	// The current transaction.
	from     string
	rcpts    []string
	rcptSeen map[string]bool

	// Buffers reused from one message to the next: the message as read,
	// and as queued (fixed up, with our Received on top).
	in       bytes.Buffer
	rendered []byte
}

// keptBuffer bounds the buffers a session keeps between messages, so a
// rare large message does not pin its size for the session's life.
const keptBuffer = 1 << 20

func (ss *session) trimBuffers() {
	if ss.in.Cap() > keptBuffer {
		ss.in = bytes.Buffer{}
	}
	if cap(ss.rendered) > keptBuffer {
		ss.rendered = nil
	}
}

func (s *Server) newSession(c *smtp.Conn) *session {
	ss := &session{s: s, helo: c.Hostname(), rcptSeen: map[string]bool{}}
	nc := c.Conn()
	if tc, ok := nc.(interface{ NetConn() net.Conn }); ok {
		ss.tls = true
		nc = tc.NetConn()
	}
	ss.idle, _ = nc.(*smtplimit.Conn)
	if a, ok := nc.RemoteAddr().(*net.TCPAddr); ok {
		ss.remoteIP = a.IP
	}
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
	return replyTooManyCommands.err()
}

// Mail implements smtp.Session (RFC 5321 4.1.1.2). The envelope sender
// must be an address the user holds, active or suspended.
func (ss *session) Mail(from string, _ *smtp.MailOptions) (err error) {
	if err := ss.count(); err != nil {
		return err
	}
	defer ss.recoverAs(&err)
	ss.resetTransaction()
	if ss.user == nil {
		return replyAuthRequired.err()
	}
	if from == "" {
		return replyNullSender.err()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if r := ss.checkHeld(ctx, "sender", from); r != nil {
		return r.err()
	}
	if ss.s.daily.full(ss.user.ID) {
		ss.s.log.Warn("daily message limit reached", "tier", tier, "user", ss.user.Name, "limit", ss.s.opts.MaxMessagesPerDay)
		return replyDailyLimit(ss.s.opts.MaxMessagesPerDay).err()
	}
	ss.from = from
	return nil
}

// checkHeld returns nil if the user holds addr, else the refusal.
func (ss *session) checkHeld(ctx context.Context, what, addr string) *reply {
	row, err := ss.s.opts.Store.AddressByName(ctx, strings.ToLower(addr))
	if errors.Is(err, store.ErrNotFound) {
		r := replyNotHeld(what, addr)
		return &r
	}
	if err != nil {
		ss.s.log.Error("look up address", "tier", tier, "addr", addr, "err", err)
		return &replyLocalError
	}
	for _, h := range row.Holders {
		if h.UserID == ss.user.ID {
			return nil // active or suspended alike: the user still holds it
		}
	}
	r := replyNotHeld(what, addr)
	return &r
}

// Rcpt implements smtp.Session (RFC 5321 4.1.1.3). Any recipient is taken
// (this is submission, and relaying for our own users is its purpose)
// except one on the user's suppression list.
func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if err := ss.count(); err != nil {
		return err
	}
	if ss.user == nil {
		return replyAuthRequired.err()
	}
	at := strings.LastIndexByte(to, '@')
	if at <= 0 || at == len(to)-1 {
		return replyBadRecipient.err()
	}
	key := strings.ToLower(to)
	if ss.rcptSeen[key] {
		return nil // the same recipient twice gets one copy
	}
	if len(ss.rcpts) >= ss.s.opts.MaxRecipients {
		return replyTooManyRecipients(ss.s.opts.MaxRecipients).err()
	}
	if r := ss.checkSuppressed(to); r != nil {
		return r.err()
	}
	ss.rcptSeen[key] = true
	ss.rcpts = append(ss.rcpts, to)
	return nil
}

// Data implements smtp.Session (RFC 5321 4.1.1.4; RFC 3030 for BDAT).
func (ss *session) Data(r io.Reader) (err error) {
	defer ss.recoverAs(&err)
	defer ss.trimBuffers()
	msg, rerr := readMessage(r, ss.s.opts.MaxMessageSize, &ss.in)
	if rerr != nil {
		_, _ = io.Copy(io.Discard, r) // read to the real end before answering
		return ss.finish(*rerr)
	}
	if len(ss.rcpts) == 0 {
		return ss.finish(replyNoRecipients)
	}
	ctx, cancel := context.WithTimeout(context.Background(), ss.s.opts.QueueTimeout)
	defer cancel()
	return ss.finish(ss.submit(ctx, msg))
}

// readMessage reads the (dot-unstuffed) message into buf (emptied first),
// up to max octets, and checks its lines. The message returned is buf's.
func readMessage(r io.Reader, max int64, buf *bytes.Buffer) ([]byte, *reply) {
	buf.Reset()
	buf.Grow(16 << 10) // most messages fit, so it is not grown step by step
	_, err := buf.ReadFrom(io.LimitReader(r, max+1))
	switch {
	case errors.Is(err, smtp.ErrDataTooLarge):
		return nil, &replyTooBig
	case errors.Is(err, smtp.ErrTooLongLine):
		return nil, &replyLongLine
	case err != nil:
		return nil, &replyLocalError
	case int64(buf.Len()) > max:
		return nil, &replyTooBig
	}
	if bad := checkLines(buf.Bytes()); bad != nil {
		return nil, bad
	}
	return buf.Bytes(), nil
}

// submit checks the header, fixes it up and queues the message.
func (ss *session) submit(ctx context.Context, raw []byte) reply {
	m, err := parseMessage(raw)
	if err != nil {
		return replyBadHeader(err.Error())
	}
	from, sender, err := m.authorAddresses(ss.from)
	if err != nil {
		return replyBadHeader(err.Error())
	}
	for _, a := range from {
		if strings.EqualFold(a, ss.from) {
			continue // Mail checked it a moment ago, in this transaction
		}
		if r := ss.checkHeld(ctx, "From address", a); r != nil {
			return *r
		}
	}
	if sender != "" && !strings.EqualFold(sender, ss.from) {
		if r := ss.checkHeld(ctx, "Sender address", sender); r != nil {
			return *r
		}
	}
	now := ss.s.opts.Now()
	fromDomain := from[0][strings.LastIndexByte(from[0], '@')+1:]
	m.fixUp(now, strings.ToLower(fromDomain))

	reserved, ok := ss.s.daily.reserve(ss.user.ID)
	if !ok {
		return replyDailyLimit(ss.s.opts.MaxMessagesPerDay)
	}
	start := time.Now()
	trace := newTraceID()
	id, err := ss.queueMessage(ctx, m, fromDomain, trace, now)
	if err != nil {
		ss.s.daily.release(ss.user.ID, reserved)
		ss.s.log.Error("queue submitted message", "tier", tier, "trace", trace, "user", ss.user.Name, "from", ss.from, "err", err)
		return replyLocalError
	}
	ss.s.metrics.queueTime.Observe(time.Since(start).Seconds())
	ss.s.log.Info("queued", "tier", tier, "id", id, "trace", trace, "user", ss.user.Name, "from", ss.from, "nrcpts", len(ss.rcpts))
	return reply{250, smtp.EnhancedCode{2, 0, 0}, "queued as " + id}
}

// queueMessage puts our Received field on top of the message and queues
// it durably, to be DKIM-signed for fromDomain when it is sent to a remote
// host (internal/delivery). That the domain has a key and the header can be
// signed is checked here, so a message that could never be signed is not
// accepted.
func (ss *session) queueMessage(ctx context.Context, m *message, fromDomain, trace string, now time.Time) (string, error) {
	if _, err := ss.s.opts.Domains.SigningDomain(ctx, fromDomain); err != nil {
		return "", err
	}
	rec := receivedField(ss.helo, ss.remoteIP.String(), ss.s.opts.ReceivedRevealsClientIP, ss.tls, true, ss.s.opts.Hostname, trace, now)
	ss.rendered = m.appendTo(append(ss.rendered[:0], rec...))
	if err := dkim.CheckHeader(ss.rendered[len(rec):]); err != nil {
		return "", err
	}
	qid, err := ss.s.opts.Queue.Enqueue(ctx, queue.Message{
		From:       ss.from,
		Recipients: append([]string(nil), ss.rcpts...),
		Body:       bytes.NewReader(ss.rendered),
		UserID:     ss.user.ID,
		SignDomain: fromDomain,
	})
	if err != nil {
		return "", fmt.Errorf("enqueue: %w", err)
	}
	return qid, nil
}

// finish counts the end-of-data answer and turns it into the session's
// error.
func (ss *session) finish(r reply) error {
	ss.s.metrics.messages.WithLabelValues(r.dsn()).Inc()
	if r.code == 250 {
		return &smtp.SMTPError{Code: 250, EnhancedCode: r.enh, Message: r.text}
	}
	if ss.user != nil {
		ss.s.log.Info("message refused", "tier", tier, "user", ss.user.Name, "from", ss.from, "code", r.code, "reply", r.text)
	}
	return r.err()
}

// recoverAs turns a panic into 451 4.3.0: our own fault is never a 5xx.
func (ss *session) recoverAs(err *error) {
	if p := recover(); p != nil {
		ss.s.log.Error("panic in submission session", "tier", tier, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
		*err = replyLocalError.err()
	}
}

// Reset implements smtp.Session (RSET, and after each transaction).
func (ss *session) Reset() { ss.resetTransaction() }

func (ss *session) resetTransaction() {
	ss.from = ""
	ss.rcpts = nil
	clear(ss.rcptSeen)
}

// Logout implements smtp.Session.
func (ss *session) Logout() error { return nil }
