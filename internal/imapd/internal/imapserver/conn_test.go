package imapserver

import (
	"bufio"
	"bytes"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
)

// bufConn is a Conn writing into out, enough for the response writers.
func bufConn(out *bytes.Buffer) *Conn {
	c := &Conn{server: New(&Options{}), enabled: make(imap.CapSet)}
	c.bw = bufio.NewWriter(out)
	c.w = out
	c.conn = nopDeadlineConn{}
	return c
}

// TestWriteFlagsResponse checks that the one-piece FETCH line is byte for
// byte what the item-by-item writers produce, for every combination of
// items, and that an invalid flag writes nothing.
func TestWriteFlagsResponse(t *testing.T) {
	flagSets := [][]imap.Flag{nil, {imap.FlagSeen}, {imap.FlagSeen, imap.FlagDraft, "$Label1", "Work"}}
	for _, uid := range []imap.UID{0, 1, 4294967295} {
		for _, withFlags := range []bool{false, true} {
			for _, flags := range flagSets {
				for _, withModSeq := range []bool{false, true} {
					var want, got bytes.Buffer
					wc := bufConn(&want)
					rw := (&FetchWriter{conn: wc}).CreateMessage(123456)
					if uid != 0 {
						rw.WriteUID(uid)
					}
					if withFlags {
						rw.WriteFlags(flags)
					}
					if withModSeq {
						rw.WriteModSeq(18446744073709551615)
					}
					if err := rw.Close(); err != nil {
						t.Fatal(err)
					}
					gc := bufConn(&got)
					fw := &FetchWriter{conn: gc}
					// Twice: the second reuses the line buffer.
					for range 2 {
						if err := fw.WriteFlagsResponse(123456, uid, withFlags, flags, withModSeq, 18446744073709551615); err != nil {
							t.Fatal(err)
						}
					}
					if w := want.String() + want.String(); got.String() != w {
						t.Errorf("uid %d flags %v %v modseq %v: got %q, want %q", uid, withFlags, flags, withModSeq, got.String(), w)
					}
				}
			}
		}
	}
	var out bytes.Buffer
	c := bufConn(&out)
	if err := (&FetchWriter{conn: c}).WriteFlagsResponse(1, 1, true, []imap.Flag{"bad flag"}, false, 0); err == nil {
		t.Error("invalid flag: no error")
	}
	if err := (&FetchWriter{conn: c}).WriteFlagsResponse(1, 1, true, []imap.Flag{"(x"}, false, 0); err == nil {
		t.Error("invalid flag: no error")
	}
	if out.Len() != 0 {
		t.Errorf("invalid flag: wrote %q", out.String())
	}
}

// nopDeadlineConn is a net.Conn whose deadlines are counted; nothing else
// of it may be used.
type nopDeadlineConn struct {
	net.Conn
	reads, writes *int
}

func (c nopDeadlineConn) SetReadDeadline(time.Time) error {
	if c.reads != nil {
		*c.reads++
	}
	return nil
}

func (c nopDeadlineConn) SetWriteDeadline(time.Time) error {
	if c.writes != nil {
		*c.writes++
	}
	return nil
}

// TestCommandBuffered checks which read buffers hold a whole command that
// needs no further read.
func TestCommandBuffered(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want bool
	}{
		{"a NOOP\r\n", true},
		{"a SELECT INBOX\r\nb NOOP\r\n", true},
		{"a NOOP\n", true},
		{"a SELECT INBOX", false},            // the line goes on
		{"a SELECT {5}\r\nINBOX\r\n", false}, // literal
		{"a APPEND x {5+}\r\nhello\r\n", false},
		{"a SEARCH TEXT }\r\n", false}, // taken for a literal: read as before
		{"\r\n", false},
	} {
		var out bytes.Buffer
		c := bufConn(&out)
		c.br = bufio.NewReader(strings.NewReader(tc.in))
		c.br.Peek(1) // fill the buffer as dec.EOF does
		if got := c.commandBuffered(); got != tc.want {
			t.Errorf("%q: got %v, want %v", tc.in, got, tc.want)
		}
	}
}

// TestDeadlinesReused checks that response write deadlines are set once
// per deadlineSlack, not around each response, and that a literal's
// longer deadline is followed by the response deadline again.
func TestDeadlinesReused(t *testing.T) {
	var out bytes.Buffer
	var reads, writes int
	c := bufConn(&out)
	c.conn = nopDeadlineConn{reads: &reads, writes: &writes}
	for range 10 {
		if err := c.writeExists(3); err != nil {
			t.Fatal(err)
		}
	}
	if writes != 1 {
		t.Errorf("10 responses set the write deadline %d times, want 1", writes)
	}
	c.writeAt = time.Now().Add(-2 * deadlineSlack)
	if err := c.writeExists(3); err != nil {
		t.Fatal(err)
	}
	if writes != 2 {
		t.Errorf("after deadlineSlack: %d write deadlines, want 2", writes)
	}
	enc := newResponseEncoder(c)
	enc.Atom("*").SP()
	lw := enc.Literal(2)
	lw.Write([]byte("ab"))
	lw.Close()
	enc.CRLF()
	enc.end()
	if writes != 4 {
		t.Errorf("literal: %d write deadlines, want 4 (literal's, then the response's)", writes)
	}
	for range 10 {
		c.ensureReadTimeout(cmdReadTimeout)
	}
	c.ensureReadTimeout(idleReadTimeout)
	if reads != 2 {
		t.Errorf("read deadlines set %d times, want 2", reads)
	}
	if got := out.String(); got != strings.Repeat("* 3 EXISTS\r\n", 11)+"* {2}\r\nab\r\n" {
		t.Errorf("wrote %q", got)
	}
}
