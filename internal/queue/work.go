package queue

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/cabalmail/cabalmail/internal/blob"
	"github.com/cabalmail/cabalmail/internal/dsn"
	"github.com/cabalmail/cabalmail/internal/store"
)

// Tier is the tier name of the queue's events and mail log lines.
const Tier = "smtp-out"

// Work is one claimed message: the recipients still pending, to be tried
// by the lease holder.
type Work struct {
	ID            string
	Sender        string
	UserID        int64
	IsDSN         bool
	BlobKey       string
	Size          int64
	Created       time.Time
	Attempts      int // attempts before this one
	DelayNotified bool
	SignDomain    string   // DKIM-sign with this domain's key when sent to a remote host; "" = unsigned
	Recipients    []string // pending recipients
}

// Kind is the outcome class of one recipient's attempt.
type Kind int

const (
	Delivered Kind = iota // 2xx, or stored in a local mailbox
	Deferred              // 4xx or connection trouble: retried
	Failed                // 5xx, or a definite local refusal: a DSN goes to the sender
)

func (k Kind) String() string {
	switch k {
	case Delivered:
		return "delivered"
	case Deferred:
		return "deferred"
	}
	return "failed"
}

// Outcome is the result of one attempt for one recipient.
type Outcome struct {
	Rcpt    string
	Kind    Kind
	DSN     string // RFC 3463 enhanced status code, e.g. 2.0.0, 4.4.1, 5.1.1
	Reply   string // the remote reply ("550 5.1.1 no such user") or our own reason
	Remote  bool   // Reply is a remote server's SMTP reply (DSN Diagnostic-Code: smtp)
	Relay   string // host name of the server talked to, "" for local delivery
	RelayIP string
}

// Result is one attempt of one claimed message.
type Result struct {
	Work     Work
	Outcomes []Outcome
}

// Claim leases up to limit due messages to owner for the given time. The
// owner must call Finish for each, or let the lease expire (the message is
// then retried by whoever claims it next).
func (q *Queue) Claim(ctx context.Context, owner string, lease time.Duration, limit int) ([]Work, error) {
	q.maybeSweep()
	now := q.now().UTC().Round(0)
	rows, err := q.st.ClaimQueue(ctx, owner, now, now.Add(lease), limit)
	if err != nil {
		return nil, fmt.Errorf("queue: claim: %w", err)
	}
	work := make([]Work, 0, len(rows))
	for _, r := range rows {
		w := Work{ID: r.ID, Sender: r.Sender, UserID: r.UserID, IsDSN: r.IsDSN, BlobKey: r.BlobKey, Size: r.Size,
			Created: r.CreatedAt, Attempts: r.Attempts, DelayNotified: r.DelayNotified, SignDomain: r.SignDomain}
		for _, rc := range r.Recipients {
			if rc.State == store.RecipientPending {
				w.Recipients = append(w.Recipients, rc.Rcpt)
			}
		}
		work = append(work, w)
	}
	return work, nil
}

// ExtendLease keeps owner's lease on the given messages for another lease
// period, for attempts that take long.
func (q *Queue) ExtendLease(ctx context.Context, owner string, ids []string, lease time.Duration) error {
	if err := q.st.ExtendLease(ctx, owner, ids, q.now().Add(lease)); err != nil {
		return fmt.Errorf("queue: extend lease: %w", err)
	}
	return nil
}

// Body opens the spooled message of w.
func (q *Queue) Body(ctx context.Context, w Work) (blob.Reader, error) {
	r, err := q.blobs.Open(ctx, w.BlobKey)
	if err != nil {
		return nil, fmt.Errorf("queue: body of %s: %w", w.ID, err)
	}
	return r, nil
}

// Finish records the attempts of owner's claimed messages in one
// transaction and applies the retry policy: deferred recipients of a
// message older than GiveUp fail (4.4.7); a message still deferred after
// DelayNotice gets one delay notice; failures get a failure DSN. DSNs are
// enqueued before the results are committed, so a crash in between sends a
// DSN twice rather than never. Finish returns the results as recorded (give
// up applied), for the caller's mail log.
func (q *Queue) Finish(ctx context.Context, owner string, results []Result) ([]Result, error) {
	now := q.now().UTC().Round(0)
	rows := make([]store.QueueResult, 0, len(results))
	out := make([]Result, 0, len(results))
	for _, res := range results {
		res, row, err := q.settle(ctx, res, now)
		if err != nil {
			return nil, err
		}
		out = append(out, res)
		rows = append(rows, row)
	}
	done, lost, err := q.st.FinishQueueAttempts(ctx, owner, rows)
	if err != nil {
		return nil, fmt.Errorf("queue: finish: %w", err)
	}
	for _, id := range lost {
		q.log.Warn("queue: lease lost before the attempt was recorded; the message will be tried again", "id", id)
	}
	q.dropLater(done)
	return out, nil
}

// settle applies the policy to one attempt and builds its store row,
// enqueueing the DSNs it calls for.
func (q *Queue) settle(ctx context.Context, res Result, now time.Time) (Result, store.QueueResult, error) {
	w := res.Work
	age := now.Sub(w.Created)
	row := store.QueueResult{ID: w.ID}
	var failed, delayed []Outcome
	for i := range res.Outcomes {
		o := &res.Outcomes[i]
		if o.Kind == Deferred && age >= q.policy.GiveUp {
			// RFC 3463 X.4.7: delivery time expired.
			o.Kind = Failed
			o.Reply = fmt.Sprintf("gave up after %s: %s", q.policy.GiveUp, o.Reply)
			o.DSN = "4.4.7"
		}
		rc := store.QueueRecipient{Rcpt: o.Rcpt, Attempts: w.Attempts + 1, LastDSN: o.DSN, LastError: o.Reply, LastAttempt: now}
		switch o.Kind {
		case Delivered:
			rc.State = store.RecipientSent
			rc.LastError = ""
		case Deferred:
			rc.State = store.RecipientPending
			delayed = append(delayed, *o)
			row.LastError = o.Reply
		default:
			rc.State = store.RecipientFailed
			failed = append(failed, *o)
			row.LastError = o.Reply
		}
		row.Recipients = append(row.Recipients, rc)
		row.Events = append(row.Events, eventOf(w, *o, now))
	}
	row.NextAttempt = now.Add(q.policy.Backoff(w.Attempts + 1))
	// RFC 3461 6.2 / RFC 5321 4.5.5: never a DSN for the null sender, and
	// none for our own DSNs (no bounce loops).
	notify := w.Sender != "" && !w.IsDSN
	if notify && len(failed) > 0 {
		if err := q.sendDSN(ctx, w, failed, "failed", now); err != nil {
			return res, row, err
		}
	}
	if notify && len(delayed) > 0 && !w.DelayNotified && age >= q.policy.DelayNotice {
		if err := q.sendDSN(ctx, w, delayed, "delayed", now); err != nil {
			return res, row, err
		}
		row.DelayNotified = true
	}
	return res, row, nil
}

func eventOf(w Work, o Outcome, now time.Time) store.Event {
	e := store.Event{Time: now, Tier: Tier, QueueID: w.ID, Rcpt: o.Rcpt, Delay: now.Sub(w.Created), Relay: o.Relay,
		DSN: o.DSN, Detail: o.Reply}
	switch o.Kind {
	case Delivered:
		e.Status = "Sent"
	case Deferred:
		e.Status = "Deferred"
	default:
		e.Status = "Bounced"
	}
	return e
}

// sendDSN builds and enqueues a delivery status notification (RFC 3464)
// for the given recipients of w, to w's sender, from the null sender.
func (q *Queue) sendDSN(ctx context.Context, w Work, outs []Outcome, action string, now time.Time) error {
	hdr, err := q.originalHeader(ctx, w)
	if err != nil {
		return err
	}
	host := q.hostname()
	rep := dsn.Report{
		ReportingMTA:    host,
		From:            "postmaster@" + host,
		To:              w.Sender,
		Date:            now,
		ArrivalDate:     w.Created,
		QueueID:         w.ID,
		OriginalHeaders: hdr,
	}
	for _, o := range outs {
		r := dsn.Recipient{Address: o.Rcpt, Action: action, Status: o.DSN, RemoteMTA: o.Relay, LastAttempt: now}
		if r.Status == "" {
			r.Status = map[string]string{"failed": "5.0.0", "delayed": "4.0.0"}[action]
		}
		if o.Remote {
			r.DiagnosticCode = "smtp; " + o.Reply
		} else {
			r.Reason = o.Reply
		}
		if action == "delayed" {
			r.WillRetryUntil = w.Created.Add(q.policy.GiveUp)
		}
		rep.Recipients = append(rep.Recipients, r)
	}
	body, err := dsn.Build(rep)
	if err != nil {
		return fmt.Errorf("queue: dsn for %s: %w", w.ID, err)
	}
	id, err := q.Enqueue(ctx, Message{From: "", Recipients: []string{w.Sender}, Body: bytes.NewReader(body), IsDSN: true})
	if err != nil {
		return fmt.Errorf("queue: dsn for %s: %w", w.ID, err)
	}
	q.log.Info("queue: dsn queued", "id", w.ID, "dsn", id, "action", action, "to", w.Sender)
	return nil
}

// maxHeader bounds the original header copied into a DSN.
const maxHeader = 64 << 10

// originalHeader reads the header section of w's message (RFC 3464 2:
// the DSN returns at least the headers of the original).
func (q *Queue) originalHeader(ctx context.Context, w Work) ([]byte, error) {
	r, err := q.Body(ctx, w)
	if errors.Is(err, blob.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return readHeader(r, maxHeader), nil
}

// readHeader returns the header section of a message, up to the empty line
// that ends it (not included), at most limit bytes, ending with CRLF.
func readHeader(r io.Reader, limit int) []byte {
	br := bufio.NewReader(io.LimitReader(r, int64(limit)))
	var out bytes.Buffer
	for {
		line, err := br.ReadString('\n')
		trimmed := strings.TrimRight(line, "\r\n")
		if trimmed == "" {
			break
		}
		out.WriteString(trimmed)
		out.WriteString("\r\n")
		if err != nil {
			break
		}
	}
	return out.Bytes()
}

func (q *Queue) hostname() string {
	if q.host != "" {
		return q.host
	}
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "localhost"
	}
	return h
}
