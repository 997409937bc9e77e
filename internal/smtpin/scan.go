package smtpin

import (
	"errors"
	"io"

	"github.com/emersion/go-smtp"
)

// maxLine is the longest line RFC 5321 4.5.3.1.6 allows, CRLF included.
const maxLine = 1000

// scanMessage reads the message (already dot-unstuffed by go-smtp) into
// memory and checks it: no bare CR or bare LF (RFC 5321 2.3.8), no line
// over 998 octets plus CRLF (RFC 5321 4.5.3.1.6), at most max octets. On a
// violation it stops and returns the reply; the caller reads the rest.
func scanMessage(r io.Reader, max int64) ([]byte, *reply) {
	// Read straight into the buffer that is returned, checking what each
	// read added; most messages fit the first allocation.
	buf := make([]byte, 0, 16<<10)
	var prev byte
	line := 0
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		for _, c := range buf[len(buf) : len(buf)+n] {
			switch {
			case c == '\n' && prev != '\r':
				return nil, &replyBareNewline
			case prev == '\r' && c != '\n':
				return nil, &replyBareNewline
			}
			switch c {
			case '\n':
				line = 0
			case '\r':
			default:
				if line++; line > maxLine-2 {
					return nil, &replyLongLine
				}
			}
			prev = c
		}
		buf = buf[:len(buf)+n]
		if int64(len(buf)) > max {
			return nil, &replyTooBig
		}
		switch {
		case err == nil:
			continue
		case errors.Is(err, io.EOF):
			if prev == '\r' {
				return nil, &replyBareNewline
			}
			return buf, nil
		case errors.Is(err, smtp.ErrDataTooLarge):
			return nil, &replyTooBig
		case errors.Is(err, smtp.ErrTooLongLine):
			return nil, &replyLongLine
		default:
			return nil, &replyLocalError
		}
	}
}
