package imapd

import (
	"bytes"
	"strings"
)

// headerField is one header field as it appears in the message.
type headerField struct {
	name string // as written
	raw  []byte // the field's bytes including continuation lines and line end
}

// parseHeaderFields splits a header block into fields (RFC 5322 2.2), for
// HEADER.FIELDS and HEADER.FIELDS.NOT. A line that is neither a field nor a
// continuation is kept with the field before it, so nothing is lost.
func parseHeaderFields(h []byte) []headerField {
	var fields []headerField
	var starts []int
	off := 0
	for off < len(h) {
		lineEnd := len(h)
		if nl := bytes.IndexByte(h[off:], '\n'); nl >= 0 {
			lineEnd = off + nl + 1
		}
		text := strings.TrimRight(string(h[off:lineEnd]), "\r\n")
		if text == "" {
			break // the blank line ending the header
		}
		colon := strings.IndexByte(text, ':')
		isContinuation := text[0] == ' ' || text[0] == '\t'
		if !isContinuation && colon > 0 && !strings.ContainsAny(text[:colon], " \t") {
			fields = append(fields, headerField{name: text[:colon], raw: h[off:lineEnd]})
			starts = append(starts, off)
		} else if len(fields) > 0 {
			i := len(fields) - 1
			fields[i].raw = h[starts[i]:lineEnd]
		}
		off = lineEnd
	}
	return fields
}
