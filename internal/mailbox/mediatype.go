package mailbox

import "strings"

// parseValueParams parses a MIME header value of the form
// `value *(";" name "=" (token / quoted-string))` (RFC 2045 5.1, RFC 2183
// 2) leniently: comments are dropped, parameter names lower-cased, values
// unquoted but otherwise kept as written (RFC 2231 continuations and
// charsets stay as they are, as BODYSTRUCTURE reports them), a parameter
// without "=" is skipped and the first of duplicate names wins.
func parseValueParams(v string) (value string, params map[string]string) {
	v = stripComments(v)
	i := indexUnquoted(v, ';')
	if i < 0 {
		return strings.TrimSpace(v), nil
	}
	value = strings.TrimSpace(v[:i])
	rest := v[i+1:]
	for len(rest) > 0 {
		rest = strings.TrimLeft(rest, " \t;")
		eq := strings.IndexAny(rest, "=;")
		if eq < 0 {
			break
		}
		name := strings.ToLower(strings.TrimSpace(rest[:eq]))
		if rest[eq] == ';' {
			rest = rest[eq+1:]
			continue
		}
		rest = strings.TrimLeft(rest[eq+1:], " \t")
		var val string
		if strings.HasPrefix(rest, `"`) {
			val, rest = readQuoted(rest)
		} else {
			end := strings.IndexByte(rest, ';')
			if end < 0 {
				end = len(rest)
			}
			val, rest = strings.TrimSpace(rest[:end]), rest[end:]
		}
		if name == "" || strings.ContainsAny(name, " \t\"") {
			continue
		}
		if params == nil {
			params = map[string]string{}
		}
		if _, dup := params[name]; !dup {
			params[name] = val
		}
	}
	return value, params
}

// readQuoted reads the quoted-string at the start of s (RFC 5322 3.2.4),
// returning its content without quotes and escapes, and what follows. An
// unterminated string runs to the end.
func readQuoted(s string) (string, string) {
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\':
			if i+1 < len(s) {
				i++
				b.WriteByte(s[i])
			}
		case '"':
			return b.String(), s[i+1:]
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), ""
}

// indexUnquoted returns the index of the first c outside a quoted string.
func indexUnquoted(s string, c byte) int {
	quoted := false
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '\\' && quoted:
			i++
		case s[i] == '"':
			quoted = !quoted
		case s[i] == c && !quoted:
			return i
		}
	}
	return -1
}

// stripComments removes RFC 5322 3.2.2 comments (nested parentheses)
// outside quoted strings.
func stripComments(s string) string {
	if !strings.Contains(s, "(") {
		return s
	}
	var b strings.Builder
	depth := 0
	quoted := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case depth == 0 && quoted:
			if c == '\\' && i+1 < len(s) {
				b.WriteByte(c)
				i++
				c = s[i]
			} else if c == '"' {
				quoted = false
			}
			b.WriteByte(c)
		case depth > 0:
			switch c {
			case '\\':
				i++
			case '(':
				depth++
			case ')':
				depth--
			}
		case c == '(':
			depth = 1
		default:
			if c == '"' {
				quoted = true
			}
			b.WriteByte(c)
		}
	}
	return b.String()
}

// isToken reports whether s is a non-empty RFC 2045 token.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`()<>@,;:\"/[]?=`, c) >= 0 {
			return false
		}
	}
	return true
}

// parseContentType returns the lower-case type and subtype and the
// parameters of a Content-Type value, and false if it is not valid.
func parseContentType(v string) (typ, sub string, params map[string]string, ok bool) {
	value, params := parseValueParams(v)
	typ, sub, found := strings.Cut(value, "/")
	typ, sub = strings.TrimSpace(typ), strings.TrimSpace(sub)
	if !found || !isToken(typ) || !isToken(sub) {
		return "", "", nil, false
	}
	return strings.ToLower(typ), strings.ToLower(sub), params, true
}
