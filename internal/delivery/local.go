package delivery

import (
	"context"
	"errors"
	"fmt"

	"github.com/cabalmail/cabalmail/internal/addresses"
	"github.com/cabalmail/cabalmail/internal/mailbox"
	"github.com/cabalmail/cabalmail/internal/queue"
)

// deliverLocal stores a message for hosted recipients in their holders'
// INBOXes, under the rules smtp-in applies at RCPT time: unknown (or
// revoked) fails with 5.1.1, suspended with 5.2.1 (RFC 3463 3.2), and any
// trouble of our own defers (4.3.0), never fails (DESIGN.md §3).
func (r *Runner) deliverLocal(ctx context.Context, j *job) []queue.Outcome {
	outs := make([]queue.Outcome, 0, len(j.rcpts))
	for _, rc := range j.rcpts {
		outs = append(outs, r.deliverLocalOne(ctx, j.msg.work, rc))
	}
	return outs
}

func (r *Runner) deliverLocalOne(ctx context.Context, w queue.Work, rcpt string) queue.Outcome {
	o := queue.Outcome{Rcpt: rcpt}
	verdict, row, err := r.opts.Addresses.Recipient(ctx, rcpt)
	if err != nil {
		return deferLocal(o, "4.3.0", "address lookup failed: "+err.Error())
	}
	switch verdict {
	case addresses.Unknown:
		o.Kind, o.DSN, o.Reply = queue.Failed, "5.1.1", "550 5.1.1 no such address here"
		return o
	case addresses.Suspended:
		o.Kind, o.DSN, o.Reply = queue.Failed, "5.2.1", "550 5.2.1 address suspended"
		return o
	}
	users := make([]int64, 0, len(row.Holders))
	for _, h := range row.Holders {
		users = append(users, h.UserID)
	}
	if len(users) == 0 {
		o.Kind, o.DSN, o.Reply = queue.Failed, "5.1.1", "550 5.1.1 address has no holder"
		return o
	}
	body, err := r.q.Body(ctx, w)
	if err != nil {
		return deferLocal(o, "4.3.0", "message body unreadable: "+err.Error())
	}
	defer body.Close()
	ds, err := r.opts.Mailboxes.Deliver(ctx, users, body, mailbox.DeliverOptions{})
	if errors.Is(err, mailbox.ErrTooBig) {
		o.Kind, o.DSN, o.Reply = queue.Failed, "5.3.4", "552 5.3.4 message too big for the mailbox"
		return o
	}
	if err != nil {
		return deferLocal(o, "4.3.0", "mailbox delivery failed: "+err.Error())
	}
	stored, overQuota := 0, 0
	var firstErr error
	for _, d := range ds {
		switch {
		case d.Err == nil:
			stored++
		case errors.Is(d.Err, mailbox.ErrOverQuota):
			overQuota++
		case firstErr == nil:
			firstErr = d.Err
		}
	}
	switch {
	case stored > 0:
		if err := r.q.Store().CountReceived(ctx, row.Address, r.q.Now()); err != nil {
			r.log.Warn("delivery: count received", "address", row.Address, "err", err)
		}
		o.Kind, o.DSN, o.Reply = queue.Delivered, "2.0.0", fmt.Sprintf("250 2.0.0 delivered to %d mailbox(es)", stored)
		return o
	case overQuota > 0 && firstErr == nil:
		return deferLocal(o, "4.2.2", "452 4.2.2 mailbox full")
	}
	return deferLocal(o, "4.3.0", fmt.Sprintf("mailbox delivery failed: %v", firstErr))
}

func deferLocal(o queue.Outcome, code, reply string) queue.Outcome {
	o.Kind, o.DSN, o.Reply = queue.Deferred, code, reply
	return o
}
