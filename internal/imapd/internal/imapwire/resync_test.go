package imapwire

import (
	"bufio"
	"io"
	"strings"
	"testing"
)

func TestResync(t *testing.T) {
	tests := []struct {
		name   string
		input  string // after the part the command handler consumed
		accept bool   // the client was told to send the pending literal
		lit    int64  // size of a pending literal, 0 for none
		max    int64
		ok     bool
		next   string // what is left to read
	}{
		{"rest of line", "garbage here\r\na2 NOOP\r\n", false, 0, 1 << 20, true, "a2 NOOP\r\n"},
		{"non-sync literal on the line", "x {5+}\r\nhello\r\na2 NOOP\r\n", false, 0, 1 << 20, true, "a2 NOOP\r\n"},
		{"two non-sync literals", "x {3+}\r\nabc {2+}\r\nde)\r\na2 NOOP\r\n", false, 0, 1 << 20, true, "a2 NOOP\r\n"},
		{"sync literal not sent", "x {5}\r\na2 NOOP\r\n", false, 0, 1 << 20, true, "a2 NOOP\r\n"},
		{"pending accepted literal", "hello\r\na2 NOOP\r\n", true, 5, 1 << 20, true, "a2 NOOP\r\n"},
		{"pending refused literal", "a2 NOOP\r\n", false, 5, 1 << 20, true, "a2 NOOP\r\n"},
		{"literal too big", "x {5000+}\r\n" + strings.Repeat("z", 5000) + "\r\n", false, 0, 100, false, ""},
		{"line too long", strings.Repeat("z", 5000) + "\r\n", false, 0, 100, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			br := bufio.NewReader(strings.NewReader(tt.input))
			dec := NewDecoder(br, ConnSideServer)
			if tt.lit > 0 {
				dec.literal = true
				dec.curLit = &LiteralReader{dec: dec, size: tt.lit, r: io.LimitReader(br, tt.lit)}
				dec.litAccepted = tt.accept
			}
			if got := dec.Resync(tt.max); got != tt.ok {
				t.Fatalf("Resync = %v, want %v", got, tt.ok)
			}
			if !tt.ok {
				return
			}
			rest, _ := io.ReadAll(br)
			if string(rest) != tt.next {
				t.Fatalf("left %q, want %q", rest, tt.next)
			}
		})
	}
}

func FuzzResync(f *testing.F) {
	f.Add("x {5+}\r\nhello\r\na2 NOOP\r\n", int64(0), false)
	f.Add("hello\r\nrest", int64(5), true)
	f.Add("{99999999999999999999+}\r\n", int64(0), false)
	f.Fuzz(func(t *testing.T, input string, lit int64, accept bool) {
		br := bufio.NewReader(strings.NewReader(input))
		dec := NewDecoder(br, ConnSideServer)
		if lit > 0 {
			dec.literal = true
			dec.curLit = &LiteralReader{dec: dec, size: lit, r: io.LimitReader(br, lit)}
			dec.litAccepted = accept
		}
		dec.Resync(1 << 16) // must not panic or hang
	})
}
