package smtpin

import (
	"bufio"
	"bytes"
	"net"
	"regexp"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

// FuzzScanMessage checks the DATA checker against a plain statement of the
// rules: accepted exactly when every line ends in CRLF, no CR or LF stands
// alone, no line is longer than 998 octets, and the size is within the
// limit; accepted content is returned unchanged.
func FuzzScanMessage(f *testing.F) {
	f.Add([]byte("Subject: x\r\n\r\nbody\r\n"))
	f.Add([]byte("a\n.\nb\r\n"))
	f.Add([]byte("a\r.\rb\r\n"))
	f.Add([]byte("a\n.\r\nb\r\n"))
	f.Add([]byte(strings.Repeat("x", 998) + "\r\n"))
	f.Add([]byte(strings.Repeat("x", 999) + "\r\n"))
	f.Add([]byte("tail\r"))
	const max = 4096
	f.Fuzz(func(t *testing.T, in []byte) {
		got, bad := scanMessage(iotest.OneByteReader(bytes.NewReader(in)), max)
		want := wellFormed(in) && len(in) <= max
		if want != (bad == nil) {
			t.Fatalf("scanMessage(%q): refused=%v, want refused=%v (%+v)", in, bad != nil, !want, bad)
		}
		if bad == nil && !bytes.Equal(got, in) {
			t.Fatalf("content changed: %q -> %q", in, got)
		}
	})
}

// wellFormed: no CR or LF outside CRLF pairs and no line over 998 octets.
// An unterminated last line (possible with BDAT) is acceptable.
func wellFormed(b []byte) bool {
	for _, l := range strings.SplitAfter(string(b), "\r\n") {
		body := strings.TrimSuffix(l, "\r\n")
		if strings.ContainsAny(body, "\r\n") || len(body) > 998 {
			return false
		}
	}
	return true
}

var replyLine = regexp.MustCompile(`^[2-5][0-9][0-9][ -]`)

// FuzzSession feeds arbitrary bytes to a live session after EHLO: commands,
// DATA and BDAT paths alike. Every reply must be a well-formed reply line,
// no 5xx may stem from our own trouble (no 5.3.0/5.0.0 transaction-failed
// answers), and nothing stored may hold a bare CR or LF.
func FuzzSession(f *testing.F) {
	f.Add("MAIL FROM:<a@remote.example>\r\nRCPT TO:<shop@x1.example.test>\r\nDATA\r\nSubject: x\r\n\r\nhi\r\n.\r\n")
	f.Add("MAIL FROM:<a@remote.example>\r\nRCPT TO:<shop@x1.example.test>\r\nDATA\r\nx\n.\nMAIL FROM:<b@c>\r\n.\r\n")
	f.Add("MAIL FROM:<a@remote.example> SIZE=10\r\nRCPT TO:<family@home.example.test>\r\nBDAT 5 LAST\r\nab\ncd")
	f.Add("RSET\r\nNOOP\r\nVRFY x\r\nMAIL FROM:<>\r\nRCPT TO:<nobody@x1.example.test>\r\nRCPT TO:<x@other.example>\r\n")
	f.Add("MAIL FROM:<a@b> BODY=8BITMIME SMTPUTF8\r\nRCPT TO:<shop@x1.example.test> NOTIFY=NEVER\r\n")
	e := newTestEnv(f, func(o *Options) { o.Timeout = 2 * time.Second; o.MaxConnsPerIP = 1000 })
	f.Fuzz(func(t *testing.T, in string) {
		c, err := net.Dial("tcp", e.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		go func() {
			_, _ = c.Write([]byte("EHLO fuzz.example\r\n" + in + "\r\n.\r\nQUIT\r\n"))
		}()
		r := bufio.NewReader(c)
		for {
			line, err := r.ReadString('\n')
			if line == "" && err != nil {
				break
			}
			if !replyLine.MatchString(line) {
				t.Fatalf("malformed reply line %q", line)
			}
			if strings.Contains(line, "transaction failed") {
				t.Fatalf("our own trouble as a 5xx: %q", line)
			}
		}
		for _, u := range []string{"alice", "bob"} {
			for _, m := range readInbox(t, e.st, e.blobs, e.users[u]) {
				if !wellFormed(m) {
					t.Fatalf("stored message with a bare CR or LF: %q", m)
				}
			}
		}
	})
}

// FuzzScanChunk checks scanChunk, fed in pieces of fuzzed sizes, against
// the rules applied octet by octet: the same verdict and the same reply
// (bare CR or LF, or line too long: whichever comes first).
func FuzzScanChunk(f *testing.F) {
	f.Add([]byte("a\r\nb\r\n"), uint8(1))
	f.Add([]byte("a\rb\r\n"), uint8(2))
	f.Add([]byte(strings.Repeat("x", 999)+"\r\r\n"), uint8(7))
	f.Add([]byte("x\r"), uint8(1))
	f.Fuzz(func(t *testing.T, in []byte, step uint8) {
		want := scanOctets(in)
		var got *reply
		prev, line := byte(0), 0
		for rest, n := in, int(step)%17+1; len(rest) > 0 && got == nil; n = n%17 + 1 {
			k := min(n, len(rest))
			prev, line, got = scanChunk(rest[:k], prev, line)
			rest = rest[k:]
		}
		if got == nil && prev == '\r' {
			got = &replyBareNewline
		}
		if got != want {
			t.Fatalf("scanChunk(%q) = %+v, want %+v", in, got, want)
		}
	})
}

// scanOctets applies the DATA rules octet by octet.
func scanOctets(in []byte) *reply {
	var prev byte
	line := 0
	for _, c := range in {
		switch {
		case c == '\n' && prev != '\r', prev == '\r' && c != '\n':
			return &replyBareNewline
		}
		if c != '\r' && c != '\n' {
			if line++; line > maxLine-2 {
				return &replyLongLine
			}
		} else if c == '\n' {
			line = 0
		}
		prev = c
	}
	if prev == '\r' {
		return &replyBareNewline
	}
	return nil
}
