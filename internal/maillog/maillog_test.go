package maillog

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 22, 7, 0, 0, 0, time.UTC)

// The three lines of DESIGN.md §6.
var examples = []struct {
	name string
	e    Entry
	line string
}{
	{
		name: "sent",
		e: Entry{Time: t0, Tier: "smtp-out", QueueID: "1a2b3c", Rcpt: "bob@example.net",
			Delay: 3 * time.Second, Relay: "mx.example.net.", RelayIP: "192.0.2.7",
			DSN: "2.0.0", Stat: "Sent", Detail: "250 ok"},
		line: "2026-11-22T07:00:00Z smtp-out 1a2b3c: to=<bob@example.net>, delay=00:00:03, relay=mx.example.net. [192.0.2.7], dsn=2.0.0, stat=Sent (250 ok)",
	},
	{
		name: "deferred",
		e: Entry{Time: t0, Tier: "smtp-out", QueueID: "1a2b3d", Rcpt: "carol@example.org",
			Delay: 10 * time.Minute, Relay: "mx2.example.org.", RelayIP: "2001:db8::25",
			DSN: "4.7.1", Stat: "Deferred", Detail: "451 4.7.1 greylisted"},
		line: "2026-11-22T07:00:00Z smtp-out 1a2b3d: to=<carol@example.org>, delay=00:10:00, relay=mx2.example.org. [2001:db8::25], dsn=4.7.1, stat=Deferred: 451 4.7.1 greylisted",
	},
	{
		name: "user unknown",
		e: Entry{Time: t0, Tier: "smtp-out", QueueID: "1a2b3e", Rcpt: "nobody@example.com",
			Delay: 26*time.Hour + 3*time.Minute + 4*time.Second, Relay: "mx.example.com.", RelayIP: "198.51.100.9",
			DSN: "5.1.1", Stat: "User unknown"},
		line: "2026-11-22T07:00:00Z smtp-out 1a2b3e: to=<nobody@example.com>, delay=1+02:03:04, relay=mx.example.com. [198.51.100.9], dsn=5.1.1, stat=User unknown",
	},
}

func TestFormatExamples(t *testing.T) {
	for _, tc := range examples {
		t.Run(tc.name, func(t *testing.T) {
			if got := Format(tc.e); got != tc.line {
				t.Errorf("Format:\n got %s\nwant %s", got, tc.line)
			}
			got, err := Parse(tc.line)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if got != tc.e {
				t.Errorf("Parse:\n got %+v\nwant %+v", got, tc.e)
			}
		})
	}
}

func TestFormatFields(t *testing.T) {
	base := Entry{Time: t0, Tier: "smtp-in", QueueID: "q1", Rcpt: "a@b", Stat: "Sent"}
	prefix := "2026-11-22T07:00:00Z smtp-in q1: to=<a@b>, delay=00:00:00"
	tests := []struct {
		name string
		edit func(*Entry)
		rest string
	}{
		{"minimal", func(e *Entry) {}, ", stat=Sent"},
		{"local time shown in UTC", func(e *Entry) { e.Time = t0.In(time.FixedZone("X", 3600)).Add(900 * time.Millisecond) }, ", stat=Sent"},
		{"negative delay is zero", func(e *Entry) { e.Delay = -time.Hour }, ", stat=Sent"},
		{"host only", func(e *Entry) { e.Relay = "mx.b." }, ", relay=mx.b., stat=Sent"},
		{"IP only", func(e *Entry) { e.RelayIP = "192.0.2.1" }, ", relay=[192.0.2.1], stat=Sent"},
		{"multi-line reply folded", func(e *Entry) { e.Detail = "250-first\r\n250 second\r\n" }, ", stat=Sent (250-first 250 second )"},
		{"control characters escaped", func(e *Entry) { e.Detail = "a\x00b\tc\x1b[31m\u202e" }, `, stat=Sent (a\x00b\x09c\x1b[31m\xe2\x80\xae)`},
		{"backslash escaped", func(e *Entry) { e.Detail = `C:\x41` }, `, stat=Sent (C:\x5cx41)`},
		{"invalid UTF-8 escaped", func(e *Entry) { e.Detail = "a\xffb" }, `, stat=Sent (a\xffb)`},
		{"non-ASCII kept", func(e *Entry) { e.Detail = "250 déjà reçu" }, ", stat=Sent (250 déjà reçu)"},
		{"stat separators escaped", func(e *Entry) { e.Stat = "Odd: (x), y" }, `, stat=Odd\x3a \x28x\x29\x2c y`},
		{"deferred without detail", func(e *Entry) { e.Stat = "Deferred" }, ", stat=Deferred"},
		{"dsn", func(e *Entry) { e.DSN = "5.7.1" }, ", dsn=5.7.1, stat=Sent"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := base
			tc.edit(&e)
			if got, want := Format(e), prefix+tc.rest; got != want {
				t.Errorf("\n got %s\nwant %s", got, want)
			}
		})
	}
}

func TestDelay(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{0, "00:00:00"},
		{999 * time.Millisecond, "00:00:00"},
		{59*time.Minute + 59*time.Second, "00:59:59"},
		{23*time.Hour + 59*time.Minute + 59*time.Second, "23:59:59"},
		{24 * time.Hour, "1+00:00:00"},
		{5*24*time.Hour + time.Second, "5+00:00:01"},
		{maxDelay, "106751+23:47:16"},
	} {
		if got := string(appendDelay(nil, tc.d)); got != tc.want {
			t.Errorf("delay %v: got %s, want %s", tc.d, got, tc.want)
		}
		back, err := parseDelay(tc.want)
		if err != nil || back != tc.d.Truncate(time.Second) {
			t.Errorf("parseDelay(%s) = %v, %v", tc.want, back, err)
		}
	}
}

// A hostile reply or address must never start a second line or forge a field.
func TestInjectionStaysOneLine(t *testing.T) {
	e := Entry{Time: t0, Tier: "smtp-out", QueueID: "q9", Stat: "Sent",
		Rcpt:   "x>, delay=00:00:00, stat=Sent\n2026-11-22T07:00:00Z smtp-out q10: to=<y@z",
		Relay:  "evil, dsn=2.0.0 [1.2.3.4]",
		Detail: "250 ok)\r\n2026-11-22T07:00:00Z smtp-out q11: to=<v@w>, delay=00:00:00, stat=Sent (250 ok",
	}
	line := Format(e)
	if strings.ContainsAny(line, "\r\n") {
		t.Fatalf("line break in %q", line)
	}
	got, err := Parse(line)
	if err != nil {
		t.Fatalf("Parse(%q): %v", line, err)
	}
	want := e
	want.Detail = strings.ReplaceAll(e.Detail, "\r\n", " ")
	if got != want {
		t.Errorf("round trip:\n got %+v\nwant %+v", got, want)
	}
}

func TestParseErrors(t *testing.T) {
	good := examples[0].line
	for _, tc := range []struct{ name, line, want string }{
		{"empty", "", "missing tier"},
		{"bad time", strings.Replace(good, "07:00:00Z", "07:00Z", 1), "time"},
		{"offset time", strings.Replace(good, "07:00:00Z", "07:00:00+00:00", 1), "UTC"},
		{"fractional time", strings.Replace(good, "07:00:00Z", "07:00:00.5Z", 1), "UTC"},
		{"no recipient", "2026-11-22T07:00:00Z smtp-out q1: stat=Sent", "to=<"},
		{"bad delay", strings.Replace(good, "00:00:03", "0:00:03", 1), "delay"},
		{"delay hours", strings.Replace(good, "00:00:03", "24:00:03", 1), "delay"},
		{"delay zero days", strings.Replace(good, "00:00:03", "0+00:00:03", 1), "delay"},
		{"unknown field", strings.Replace(good, "dsn=", "xyz=", 1), "unexpected field"},
		{"relay no space", strings.Replace(good, ". [", ".[", 1), "relay"},
		{"relay unclosed", strings.Replace(good, "7]", "7", 1), "relay"},
		{"bad escape", strings.Replace(good, "250 ok", `250 \q`, 1), "bad escape"},
		{"upper-case escape", strings.Replace(good, "250 ok", `250 \x0A`, 1), "lower-case"},
		{"needless escape", strings.Replace(good, "250 ok", `250 \x6fk`, 1), "canonical"},
		{"raw control", strings.Replace(good, "250 ok", "250\tok", 1), "canonical"},
		{"escaped line break", strings.Replace(good, "250 ok", `250\x0aok`, 1), "line break"},
		{"unclosed detail", strings.TrimSuffix(good, ")"), "closing"},
		{"colon for sent", strings.Replace(good, "Sent (250 ok)", "Sent: 250 ok", 1), "colon"},
		{"parens for deferred", strings.Replace(good, "Sent (250 ok)", "Deferred (250 ok)", 1), "colon"},
		{"empty detail", strings.Replace(good, "(250 ok)", "()", 1), "empty detail"},
		{"empty relay", strings.Replace(good, "mx.example.net. [192.0.2.7]", "", 1), "empty relay"},
		{"two lines", good + "\n" + good, "canonical"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(tc.line)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "maillog: parse: ") {
				t.Errorf("Parse(%q) = %v, want error containing %q", tc.line, err, tc.want)
			}
		})
	}
	if _, err := Parse(good + "\n"); err != nil {
		t.Errorf("trailing newline refused: %v", err)
	}
}

// countingWriter records every Write call separately, so the test sees
// whether a line was ever split across calls.
type countingWriter struct {
	mu     sync.Mutex
	writes [][]byte
}

func (w *countingWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.writes = append(w.writes, append([]byte(nil), p...))
	return len(p), nil
}

func TestWriterConcurrent(t *testing.T) {
	cw := &countingWriter{}
	w := New(cw)
	const workers, each = 8, 200
	var wg sync.WaitGroup
	for g := range workers {
		wg.Go(func() {
			for i := range each {
				e := Entry{Time: t0, Tier: "smtp-out", QueueID: fmt.Sprintf("g%di%d", g, i),
					Rcpt: "a@b", Stat: "Deferred", Detail: strings.Repeat("x", i)}
				if err := w.Log(e); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if len(cw.writes) != workers*each {
		t.Fatalf("%d writes, want %d", len(cw.writes), workers*each)
	}
	seen := map[string]bool{}
	for _, p := range cw.writes {
		if bytes.Count(p, []byte("\n")) != 1 || p[len(p)-1] != '\n' {
			t.Fatalf("write is not exactly one line: %q", p)
		}
		e, err := Parse(string(p))
		if err != nil {
			t.Fatal(err)
		}
		seen[e.QueueID] = true
	}
	if len(seen) != workers*each {
		t.Errorf("%d distinct entries, want %d", len(seen), workers*each)
	}
}

func TestWriterZeroTimeIsNow(t *testing.T) {
	var buf bytes.Buffer
	w := New(&buf)
	w.now = func() time.Time { return t0 }
	if err := w.Log(Entry{Tier: "smtp-in", QueueID: "q", Rcpt: "a@b", Stat: "Sent"}); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(&buf)
	if !sc.Scan() {
		t.Fatal("no line")
	}
	e, err := Parse(sc.Text())
	if err != nil {
		t.Fatal(err)
	}
	if !e.Time.Equal(t0) {
		t.Errorf("time %v, want %v", e.Time, t0)
	}
}

type failingWriter struct{ n int }

func (f failingWriter) Write(p []byte) (int, error) {
	if f.n >= 0 {
		return f.n, nil
	}
	return 0, errors.New("disk full")
}

func TestWriterErrors(t *testing.T) {
	e := examples[0].e
	if err := New(failingWriter{n: -1}).Log(e); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("write error: got %v", err)
	}
	if err := New(failingWriter{n: 3}).Log(e); !errors.Is(err, io.ErrShortWrite) {
		t.Errorf("short write: got %v", err)
	}
}
