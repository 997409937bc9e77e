// Package maillog writes and reads the mail log (DESIGN.md §6): one line per
// delivery event, in sendmail's key=value style, so that existing log
// pipelines and the runbooks' greps work unchanged:
//
//	2026-11-22T07:00:00Z smtp-out 1a2b3c: to=<a@example.net>, delay=00:00:03, relay=mx.example.net. [192.0.2.7], dsn=2.0.0, stat=Sent (250 ok)
//
// It is in charge of the exact text of that line: formatting an Entry,
// sanitizing everything that came from the network (a remote reply or an
// address may carry CR, LF or other control characters; none of them ever
// reaches the log, so one event is always exactly one line), and parsing a
// line back for tooling and tests. It is not in charge of program logs
// (log/slog), of counting events in metrics, or of keeping them in the store;
// but a Writer tells its observers (Writer.Observe) of every entry it logs, so
// the process can count each line exactly once without the tiers doing it.
package maillog

import (
	"fmt"
	"io"
	"sync"
	"time"
)

// Entry is one delivery event.
type Entry struct {
	Time    time.Time     // logged in UTC, to the second; years 0000-9999
	Tier    string        // "smtp-in", "smtp-out", ... (DESIGN.md §2)
	QueueID string        // the queue item's ID
	Rcpt    string        // the recipient address, without angle brackets
	Delay   time.Duration // time since the message was accepted; logged to the second
	Relay   string        // host name of the server we talked to, if any
	RelayIP string        // its IP address, if any
	DSN     string        // RFC 3463 status code, e.g. "2.0.0"
	Stat    string        // sendmail's status phrase: "Sent", "Deferred", "User unknown", ...
	Detail  string        // the remote reply, if any
}

// Writer writes entries to an io.Writer, one Write call per line, so lines of
// concurrent callers never interleave. It is safe for concurrent use.
type Writer struct {
	mu  sync.Mutex
	w   io.Writer
	buf []byte
	now func() time.Time

	obsMu     sync.RWMutex
	observers []func(Entry)
}

// New returns a Writer that writes lines to w.
func New(w io.Writer) *Writer {
	return &Writer{w: w, now: time.Now}
}

// Observe adds fn to the functions called once for every entry Log is given,
// after its line is written (or failed to be: the event happened either
// way, so observers such as the metrics counter see it). fn runs on the
// caller's goroutine and must not block or call Log.
func (w *Writer) Observe(fn func(Entry)) {
	w.obsMu.Lock()
	defer w.obsMu.Unlock()
	w.observers = append(w.observers, fn)
}

// Log writes e as one line and tells the observers. A zero e.Time is taken
// as now.
func (w *Writer) Log(e Entry) error {
	if e.Time.IsZero() {
		e.Time = w.now()
	}
	err := w.write(e)
	w.obsMu.RLock()
	observers := w.observers
	w.obsMu.RUnlock()
	for _, fn := range observers {
		fn(e)
	}
	return err
}

func (w *Writer) write(e Entry) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = appendEntry(w.buf[:0], e)
	w.buf = append(w.buf, '\n')
	n, err := w.w.Write(w.buf)
	if err == nil && n < len(w.buf) {
		err = io.ErrShortWrite
	}
	if err != nil {
		return fmt.Errorf("maillog: write %s %s: %w", e.Tier, e.QueueID, err)
	}
	return nil
}
