package mailbox

import (
	"bytes"
	"strings"
)

// headerField is one field of a header block.
type headerField struct {
	name  string // as written
	value string // unfolded (RFC 5322 2.2.3), surrounding white space trimmed
}

// headerLength returns the length of the header block at the start of b,
// including the empty line that ends it. Without an empty line the whole of
// b is header (RFC 5322 2.1: the body is optional).
func headerLength(b []byte) int {
	if bytes.HasPrefix(b, []byte("\r\n")) {
		return 2
	}
	if bytes.HasPrefix(b, []byte("\n")) {
		return 1
	}
	for i := 0; ; {
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			return len(b)
		}
		i += j + 1
		if bytes.HasPrefix(b[i:], []byte("\r\n")) {
			return i + 2
		}
		if bytes.HasPrefix(b[i:], []byte("\n")) {
			return i + 1
		}
	}
}

// parseHeader splits a header block into fields. Lines that are neither a
// field nor a continuation are skipped: a malformed header must not lose
// the fields around it.
func parseHeader(b []byte) []headerField {
	var fields []headerField
	var cur []byte // current field, unfolded so far
	flush := func() {
		if cur == nil {
			return
		}
		if i := bytes.IndexByte(cur, ':'); i > 0 {
			name := strings.TrimRight(string(cur[:i]), " \t")
			if name != "" && !strings.ContainsAny(name, " \t") {
				fields = append(fields, headerField{name: name, value: strings.TrimSpace(string(cur[i+1:]))})
			}
		}
		cur = nil
	}
	for len(b) > 0 {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(line) == 0 {
			break // the empty line ending the header
		}
		if line[0] == ' ' || line[0] == '\t' {
			if cur != nil {
				// RFC 5322 2.2.3: unfolding removes the line break only.
				cur = append(cur, line...)
			}
			continue
		}
		flush()
		cur = append([]byte(nil), line...)
	}
	flush()
	return fields
}

// get returns the value of the first field called name, and whether there
// is one.
func getField(fields []headerField, name string) (string, bool) {
	for _, f := range fields {
		if strings.EqualFold(f.name, name) {
			return f.value, true
		}
	}
	return "", false
}

// getAll returns the values of every field called name.
func getAllFields(fields []headerField, name string) []string {
	var out []string
	for _, f := range fields {
		if strings.EqualFold(f.name, name) {
			out = append(out, f.value)
		}
	}
	return out
}

// FilterHeader returns the fields of the header block hdr whose names are
// (or, with not, are not) in names, as written, followed by the empty line:
// BODY[HEADER.FIELDS (...)] and HEADER.FIELDS.NOT (RFC 3501 6.4.5).
func FilterHeader(hdr []byte, names []string, not bool) []byte {
	var out []byte
	keep := false
	for len(hdr) > 0 {
		line := hdr
		if i := bytes.IndexByte(hdr, '\n'); i >= 0 {
			line, hdr = hdr[:i+1], hdr[i+1:]
		} else {
			hdr = nil
		}
		trimmed := bytes.TrimRight(line, "\r\n")
		if len(trimmed) == 0 {
			break
		}
		if trimmed[0] != ' ' && trimmed[0] != '\t' {
			keep = false
			if i := bytes.IndexByte(trimmed, ':'); i > 0 {
				name := strings.TrimRight(string(trimmed[:i]), " \t")
				in := false
				for _, n := range names {
					if strings.EqualFold(n, name) {
						in = true
						break
					}
				}
				keep = in != not
			}
		}
		if keep {
			out = append(out, line...)
			if !bytes.HasSuffix(line, []byte("\n")) {
				out = append(out, '\r', '\n')
			}
		}
	}
	return append(out, '\r', '\n')
}
