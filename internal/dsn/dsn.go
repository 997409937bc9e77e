// Package dsn writes and reads delivery status notifications (RFC 3464):
// the multipart/report messages the outbound queue sends to a sender when a
// recipient fails or is delayed.
//
// It is in charge of the text of a DSN: the human-readable part, the
// message/delivery-status part with its per-message and per-recipient
// fields, and the returned original header (text/rfc822-headers, RFC 6522
// 3). It is not in charge of deciding when a DSN is due, or of the rule
// that none is ever sent for the null sender: that is internal/queue.
// Parse reads the delivery-status fields back, for tests and tooling.
package dsn

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// Report is one DSN.
type Report struct {
	ReportingMTA    string    // our host name (Reporting-MTA: dns; ...)
	From            string    // header From, e.g. postmaster@host
	To              string    // the original envelope sender
	Date            time.Time // when the DSN is written
	ArrivalDate     time.Time // when the original message was queued
	QueueID         string    // our queue ID of the original (X-Cabalmail-Queue-ID)
	EnvelopeID      string    // RFC 3461 ENVID, if the sender gave one
	OriginalHeaders []byte    // the header section of the original message
	Recipients      []Recipient
}

// Recipient is the per-recipient part of a DSN (RFC 3464 2.3).
type Recipient struct {
	Address        string    // Final-Recipient: rfc822; ...
	Action         string    // failed, delayed, delivered, relayed, expanded (RFC 3464 2.3.3)
	Status         string    // RFC 3463 code, e.g. 5.1.1
	RemoteMTA      string    // host name, if a remote server answered
	DiagnosticCode string    // "smtp; 550 5.1.1 ..." when the remote server answered
	Reason         string    // our own explanation when no remote server did
	LastAttempt    time.Time // Last-Attempt-Date
	WillRetryUntil time.Time // for delayed: when the queue gives up
}

var (
	statusRE = regexp.MustCompile(`^[245]\.[0-9]{1,3}\.[0-9]{1,3}$`)
	actions  = map[string]bool{"failed": true, "delayed": true, "delivered": true, "relayed": true, "expanded": true}
)

// Build writes r as a complete message (header and body, CRLF line ends).
func Build(r Report) ([]byte, error) {
	if len(r.Recipients) == 0 {
		return nil, errors.New("dsn: build: no recipients")
	}
	if r.ReportingMTA == "" || r.From == "" || r.To == "" {
		return nil, errors.New("dsn: build: reporting MTA, From and To are required")
	}
	if err := checkField(r.ReportingMTA, r.From, r.To, r.QueueID, r.EnvelopeID); err != nil {
		return nil, fmt.Errorf("dsn: build: %w", err)
	}
	action := r.Recipients[0].Action
	for _, rc := range r.Recipients {
		if !actions[rc.Action] {
			return nil, fmt.Errorf("dsn: build: recipient %s: unknown action %q", rc.Address, rc.Action)
		}
		if !statusRE.MatchString(rc.Status) {
			return nil, fmt.Errorf("dsn: build: recipient %s: bad status %q", rc.Address, rc.Status)
		}
		if err := checkField(rc.Address, rc.RemoteMTA, rc.DiagnosticCode, rc.Reason); err != nil {
			return nil, fmt.Errorf("dsn: build: recipient %s: %w", rc.Address, err)
		}
		if rc.Action != action {
			action = "mixed"
		}
	}
	boundary, err := newBoundary()
	if err != nil {
		return nil, err
	}
	date := r.Date
	if date.IsZero() {
		date = time.Now()
	}
	var b bytes.Buffer
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+"\r\n", args...) }
	subject := map[string]string{
		"failed":  "Undelivered Mail Returned to Sender",
		"delayed": "Delayed Mail (still being retried)",
	}[action]
	if subject == "" {
		subject = "Delivery Status Notification"
	}
	w("From: Mail Delivery System <%s>", r.From)
	w("To: <%s>", r.To)
	w("Subject: %s", subject)
	w("Date: %s", date.Format(time.RFC1123Z))
	w("Message-ID: <%s.dsn@%s>", boundary[:16], r.ReportingMTA)
	w("Auto-Submitted: auto-replied") // RFC 3834 5
	if r.QueueID != "" {
		w("X-Cabalmail-Queue-ID: %s", r.QueueID)
	}
	w("MIME-Version: 1.0")
	// RFC 3464 2 / RFC 6522 3: multipart/report; report-type=delivery-status.
	w(`Content-Type: multipart/report; report-type=delivery-status; boundary="%s"`, boundary)
	w("")
	w("This is a MIME-encapsulated message.")
	w("")
	w("--%s", boundary)
	w("Content-Type: text/plain; charset=utf-8")
	w("Content-Transfer-Encoding: 8bit")
	w("")
	writeHuman(w, r, action)
	w("")
	w("--%s", boundary)
	w("Content-Type: message/delivery-status")
	w("")
	// RFC 3464 2.2: per-message fields.
	w("Reporting-MTA: dns; %s", r.ReportingMTA)
	if r.EnvelopeID != "" {
		w("Original-Envelope-Id: %s", r.EnvelopeID)
	}
	if !r.ArrivalDate.IsZero() {
		w("Arrival-Date: %s", r.ArrivalDate.Format(time.RFC1123Z))
	}
	for _, rc := range r.Recipients {
		// RFC 3464 2.3: per-recipient fields, each group after a blank line.
		w("")
		w("Final-Recipient: rfc822; %s", rc.Address)
		w("Action: %s", rc.Action)
		w("Status: %s", rc.Status)
		if rc.RemoteMTA != "" {
			w("Remote-MTA: dns; %s", rc.RemoteMTA)
		}
		if rc.DiagnosticCode != "" {
			w("Diagnostic-Code: %s", rc.DiagnosticCode)
		}
		if !rc.LastAttempt.IsZero() {
			w("Last-Attempt-Date: %s", rc.LastAttempt.Format(time.RFC1123Z))
		}
		if !rc.WillRetryUntil.IsZero() {
			w("Will-Retry-Until: %s", rc.WillRetryUntil.Format(time.RFC1123Z))
		}
	}
	w("")
	w("--%s", boundary)
	// RFC 6522 3: the third part returns the original; we return its
	// header only, which is enough to identify the message.
	w("Content-Type: text/rfc822-headers")
	w("")
	hdr := bytes.ReplaceAll(r.OriginalHeaders, []byte("\r\n"), []byte("\n"))
	for _, line := range strings.Split(strings.TrimRight(string(hdr), "\n"), "\n") {
		if line != "" {
			w("%s", line)
		}
	}
	w("")
	w("--%s--", boundary)
	return b.Bytes(), nil
}

func writeHuman(w func(string, ...any), r Report, action string) {
	switch action {
	case "failed":
		w("Your message could not be delivered to one or more recipients.")
		w("It has not been delivered to the addresses below and will not be retried.")
	case "delayed":
		w("Your message has not been delivered yet to one or more recipients.")
		w("Delivery is still being retried; you need not send it again.")
	default:
		w("A report on the delivery of your message follows.")
	}
	w("")
	for _, rc := range r.Recipients {
		why := rc.DiagnosticCode
		if why == "" {
			why = rc.Reason
		}
		w("<%s>: %s (%s)", rc.Address, rc.Action, rc.Status)
		if why != "" {
			w("    %s", why)
		}
		if !rc.WillRetryUntil.IsZero() {
			w("    Retries continue until %s.", rc.WillRetryUntil.Format(time.RFC1123Z))
		}
	}
}

// checkField refuses values that would break the header or field syntax.
func checkField(vals ...string) error {
	for _, v := range vals {
		if strings.ContainsAny(v, "\r\n") {
			return fmt.Errorf("line break in %q", v)
		}
	}
	return nil
}

func newBoundary() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("dsn: boundary: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}
