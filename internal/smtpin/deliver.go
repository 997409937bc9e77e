package smtpin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cabalmail/cabalmail/internal/authres"
	"github.com/cabalmail/cabalmail/internal/mailbox"
	"github.com/cabalmail/cabalmail/internal/maillog"
	"github.com/cabalmail/cabalmail/internal/store"
)

// deliveryGroup is the users who get the same copy: those who hold the same
// set of addressed addresses, hence the same Delivered-To fields.
type deliveryGroup struct {
	users []int64
	to    []string // canonical addresses, in RCPT order
}

// groupByUser gives each user one copy (however many of their addresses
// were addressed) and groups users whose copies are identical, so the body
// is written once per group.
func groupByUser(rcpts []accepted) []deliveryGroup {
	var order []int64
	held := map[int64][]string{}
	for _, a := range rcpts {
		for _, h := range a.addr.Holders {
			if _, ok := held[h.UserID]; !ok {
				order = append(order, h.UserID)
			}
			held[h.UserID] = append(held[h.UserID], a.addr.Address)
		}
	}
	var groups []deliveryGroup
	index := map[string]int{}
	for _, u := range order {
		key := strings.Join(held[u], "\x00")
		i, ok := index[key]
		if !ok {
			i = len(groups)
			index[key] = i
			groups = append(groups, deliveryGroup{to: held[u]})
		}
		groups[i].users = append(groups[i].users, u)
	}
	return groups
}

// deliver stamps the message and stores it for every holder of every
// accepted address, returning the end-of-data reply.
func (ss *session) deliver(ctx context.Context, msg []byte) reply {
	if len(ss.rcpts) == 0 {
		return replyLocalError
	}
	env := ss.envelope()
	var spf authres.SPFVerdict
	select {
	case spf = <-ss.spf:
	case <-ctx.Done():
		return replyLocalError
	}
	results := ss.s.auth.CheckMessage(ctx, env, spf, msg)
	// RFC 8601 5: remove fields claiming our authserv-id before adding ours.
	msg = authres.StripForged(msg, ss.s.auth.AuthServID())
	now := time.Now()
	common := ss.s.auth.Field(env, results) + ss.received(now)

	start := time.Now()
	var stored, full, failed int
	for _, g := range groupByUser(ss.rcpts) {
		// RFC 5321 4.4: the final delivery adds Return-Path.
		stamped := make([]byte, 0, len(msg)+len(common)+64*(len(g.to)+1)+len(ss.from))
		stamped = append(stamped, "Return-Path: <"...)
		stamped = append(append(stamped, ss.from...), ">\r\n"...)
		for _, a := range g.to {
			stamped = append(append(append(stamped, "Delivered-To: "...), a...), "\r\n"...)
		}
		stamped = append(append(stamped, common...), msg...)
		body := bytes.NewReader(stamped)
		ds, err := ss.s.opts.Mailboxes.Deliver(ctx, g.users, body, mailbox.DeliverOptions{InternalDate: now})
		if err != nil {
			if errors.Is(err, mailbox.ErrTooBig) {
				return replyTooBig
			}
			ss.s.log.Error("deliver", "tier", tier, "id", ss.id, "err", err)
			if stored > 0 {
				// Some copies are already durable: a 4xx would have the
				// client send them again. See NEEDS.md.
				failed += len(g.users)
				continue
			}
			return replyLocalError
		}
		for _, d := range ds {
			switch {
			case d.Err == nil:
				stored++
			case errors.Is(d.Err, mailbox.ErrOverQuota):
				full++
			default:
				failed++
				ss.s.log.Error("deliver to user", "tier", tier, "id", ss.id, "user", d.UserID, "err", d.Err)
			}
		}
	}
	ss.s.metrics.deliverTime.Observe(time.Since(start).Seconds())
	if stored == 0 {
		if full > 0 && failed == 0 {
			return replyOverQuota
		}
		return replyLocalError
	}
	if full+failed > 0 {
		ss.s.log.Warn("message stored for some holders only", "tier", tier, "id", ss.id, "stored", stored, "over_quota", full, "failed", failed)
	}
	ok := reply{250, [3]int{2, 0, 0}, "delivered as " + ss.id, "Sent"}
	for _, a := range ss.rcpts {
		ss.s.book.countReceived(a.addr.Address, now)
		ss.logEvent(ctx, a.rcpt, ok, time.Since(ss.started))
	}
	return replyOK
}

// received is our Received field (RFC 5321 4.4), with the protocol keyword
// of RFC 3848 and RFC 6531 and, for one recipient only, the "for" clause.
func (ss *session) received(now time.Time) string {
	proto := "ESMTP"
	if ss.utf8 {
		proto = "UTF8SMTP"
	}
	if ss.tls {
		proto += "S"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Received: from %s ([%s])\r\n\tby %s (Cabalmail) with %s id %s", sanitizeHelo(ss.helo), ss.remoteIP, ss.s.opts.Hostname, proto, ss.id)
	if len(ss.rcpts) == 1 {
		fmt.Fprintf(&b, "\r\n\tfor <%s>", ss.rcpts[0].addr.Address)
	}
	fmt.Fprintf(&b, ";\r\n\t%s\r\n", now.Format(time.RFC1123Z))
	return b.String()
}

// sanitizeHelo keeps the client's HELO argument from breaking the field.
func sanitizeHelo(h string) string {
	h = strings.Map(func(r rune) rune {
		if r <= ' ' || r == 0x7f || r == '(' || r == ')' || r == ';' {
			return -1
		}
		return r
	}, h)
	if h == "" {
		return "unknown"
	}
	return h
}

// logEvent writes the mail log line (DESIGN.md §6) and stores the event
// for `cabalmail diagnose`.
func (ss *session) logEvent(ctx context.Context, rcpt string, r reply, delay time.Duration) {
	detail := r.line()
	if r.code == 250 {
		detail = fmt.Sprintf("%d %s %s", r.code, r.dsn(), r.text)
	}
	e := maillog.Entry{
		Tier:    tier,
		QueueID: ss.id,
		Rcpt:    rcpt,
		Delay:   delay,
		Relay:   sanitizeHelo(ss.helo),
		RelayIP: ss.remoteIP.String(),
		DSN:     r.dsn(),
		Stat:    r.stat,
		Detail:  detail,
	}
	if e.QueueID == "" {
		e.QueueID = "NOQUEUE"
	}
	if ss.s.opts.MailLog != nil {
		if err := ss.s.opts.MailLog.Log(e); err != nil {
			ss.s.log.Error("mail log", "tier", tier, "err", err)
		}
	}
	if r.code/100 == 2 && ss.s.opts.SkipSentEvents {
		return
	}
	ss.s.book.addEvent(&store.Event{Time: time.Now(), Tier: tier, QueueID: e.QueueID, Rcpt: rcpt, Delay: delay, Relay: e.Relay + " [" + e.RelayIP + "]", DSN: e.DSN, Status: r.stat, Detail: detail})
}
