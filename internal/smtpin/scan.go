package smtpin

import (
	"bytes"
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
		var bad *reply
		if prev, line, bad = scanChunk(buf[len(buf):len(buf)+n], prev, line); bad != nil {
			return nil, bad
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

// scanChunk checks the next octets p of a message against the rules of
// scanMessage, given the octet before them (prev) and the length of the
// line they continue. It returns the new prev and line length, or the
// reply for the first violation. It looks for line ends with
// bytes.IndexByte rather than octet by octet: this runs over every
// message the MX receives.
func scanChunk(p []byte, prev byte, line int) (byte, int, *reply) {
	for len(p) > 0 {
		nl := bytes.IndexByte(p, '\n')
		seg := p // up to the next LF, which it does not hold
		if nl >= 0 {
			seg = p[:nl]
		}
		if len(seg) > 0 {
			if prev == '\r' {
				return 0, 0, &replyBareNewline // a CR not followed by LF
			}
			// Only the last octet may be a CR: of a CRLF, or of one
			// split between two reads.
			if cr := bytes.IndexByte(seg, '\r'); cr >= 0 && cr < len(seg)-1 {
				if line+cr > maxLine-2 {
					return 0, 0, &replyLongLine // the line was too long before the CR
				}
				return 0, 0, &replyBareNewline
			}
			n := len(seg)
			if seg[n-1] == '\r' {
				n--
			}
			if line+n > maxLine-2 {
				return 0, 0, &replyLongLine
			}
			line += n
			prev = seg[len(seg)-1]
		}
		if nl < 0 {
			break
		}
		if prev != '\r' {
			return 0, 0, &replyBareNewline // an LF not preceded by CR
		}
		prev, line = '\n', 0
		p = p[nl+1:]
	}
	return prev, line, nil
}
