package maillog

import (
	"strings"
	"testing"
	"time"
)

// FuzzParse checks that Parse never panics, that every line it accepts is
// exactly what Format writes for the result, and that Parse(Format(e)) gives
// e back in its logged form for any entry, however hostile its fields.
func FuzzParse(f *testing.F) {
	for _, tc := range examples {
		e := tc.e
		f.Add(tc.line, e.Time.Unix(), int64(e.Delay), e.Tier, e.QueueID, e.Rcpt, e.Relay, e.RelayIP, e.DSN, e.Stat, e.Detail)
	}
	f.Add("", int64(0), int64(-1), "", "", "", "", "", "", "", "")
	f.Add(`2026-11-22T07:00:00Z a b: to=<\x3e>, delay=9+00:00:00, relay=[x], stat= (y)`, int64(1), int64(1<<62),
		"a b", "q:1", "x>y", "h [i]", "i]", "2.0.0, x", "Deferred: (", "a\r\nb\x00\\")
	f.Fuzz(func(t *testing.T, line string, unix, delay int64, tier, qid, rcpt, relay, ip, dsn, stat, detail string) {
		if e, err := Parse(line); err == nil {
			if got := Format(e); got != strings.TrimSuffix(line, "\n") {
				t.Fatalf("Parse accepted %q but Format gives %q", line, got)
			}
		}

		// Keep the time within the years RFC 3339 can write.
		const span = 253402300800 // 0001-01-01 to 9999-12-31, in seconds
		unix %= span / 2
		e := Entry{Time: time.Unix(unix, 0), Delay: time.Duration(delay), Tier: tier, QueueID: qid,
			Rcpt: rcpt, Relay: relay, RelayIP: ip, DSN: dsn, Stat: stat, Detail: detail}
		out := Format(e)
		if strings.ContainsAny(out, "\r\n") {
			t.Fatalf("line break in %q", out)
		}
		got, err := Parse(out)
		if err != nil {
			t.Fatalf("Parse(Format(%+v)) = %v; line %q", e, err, out)
		}
		want := e
		want.Time = e.Time.UTC()
		want.Delay = max(e.Delay, 0).Truncate(time.Second)
		want.Detail = foldLineBreaks(e.Detail)
		if !got.Time.Equal(want.Time) {
			t.Fatalf("time %v, want %v", got.Time, want.Time)
		}
		got.Time = want.Time
		if got != want {
			t.Fatalf("round trip:\n got %+v\nwant %+v\nline %q", got, want, out)
		}
	})
}
