package authres

import (
	"bytes"
	"strings"
)

// headerOf returns the header section of message, with the empty line that
// ends it if there is one.
func headerOf(message []byte) []byte {
	if bytes.HasPrefix(message, []byte("\r\n")) {
		return message[:2]
	}
	if i := bytes.Index(message, []byte("\r\n\r\n")); i >= 0 {
		return message[:i+4]
	}
	return message
}

// StripForged returns message without the Authentication-Results fields of
// its header that name authServID as their authserv-id (RFC 8601 5: an MTA
// must remove such fields it did not add, since they may be forged). Other
// fields, and the body, are kept byte for byte. Names compare without
// regard to case.
func StripForged(message []byte, authServID string) []byte {
	head := headerOf(message)
	var out []byte
	changed := false
	for rest := head; len(rest) > 0; {
		n := fieldLen(rest)
		field := rest[:n]
		rest = rest[n:]
		if claimsID(field, authServID) {
			if !changed {
				out = append(out, head[:len(head)-len(rest)-n]...)
				changed = true
			}
			continue
		}
		if changed {
			out = append(out, field...)
		}
	}
	if !changed {
		return message
	}
	return append(out, message[len(head):]...)
}

// fieldLen returns the length of the header field at the start of b,
// continuation lines (RFC 5322 2.2.3) and line ends included.
func fieldLen(b []byte) int {
	n := 0
	for {
		i := bytes.IndexByte(b[n:], '\n')
		if i < 0 {
			return len(b)
		}
		n += i + 1
		if n >= len(b) || (b[n] != ' ' && b[n] != '\t') {
			return n
		}
	}
}

const fieldName = "authentication-results:"

// claimsID reports whether field is an Authentication-Results field whose
// authserv-id (RFC 8601 2.2) is id.
func claimsID(field []byte, id string) bool {
	if len(field) < len(fieldName) || !strings.EqualFold(string(field[:len(fieldName)]), fieldName) {
		// RFC 5322 allows white space before the colon in obsolete syntax.
		name, _, ok := bytes.Cut(field, []byte(":"))
		if !ok || !strings.EqualFold(strings.TrimRight(string(name), " \t"), fieldName[:len(fieldName)-1]) {
			return false
		}
		field = field[len(name)+1:]
	} else {
		field = field[len(fieldName):]
	}
	value := stripComments(string(field))
	value, _, _ = strings.Cut(value, ";")
	fields := strings.Fields(value)
	return len(fields) > 0 && strings.EqualFold(strings.TrimSuffix(fields[0], "."), strings.TrimSuffix(id, "."))
}

// stripComments removes RFC 5322 3.2.2 comments (nested, with quoted
// pairs), replacing each by a space, and unfolds line ends.
func stripComments(s string) string {
	var b strings.Builder
	depth := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && depth > 0:
			i++
		case c == '(':
			depth++
		case c == ')' && depth > 0:
			depth--
			if depth == 0 {
				b.WriteByte(' ')
			}
		case depth > 0:
		case c == '\r' || c == '\n':
			b.WriteByte(' ')
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}
