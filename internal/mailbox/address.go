package mailbox

import "strings"

// missingHost stands in for the domain of an address that has none, as
// other IMAP servers report it (a NIL host would mark a group).
const missingHost = ".MISSING-HOST-NAME."

// addrToken is one lexical token of an address list (RFC 5322 3.2).
type addrToken struct {
	kind  byte   // 'a' atom, 'q' quoted string, 'c' comment, 'l' domain literal, or a special: < > : ; , @ .
	text  string // atom, unquoted string, comment text or literal (with brackets)
	space bool   // white space came before it
}

// lexAddressList splits s into tokens. It never fails: an unterminated
// quoted string, comment or literal runs to the end of s.
func lexAddressList(s string) []addrToken {
	var toks []addrToken
	space := false
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			space = true
			i++
			continue
		case c == '"':
			text, rest := readQuoted(s[i:])
			toks = append(toks, addrToken{kind: 'q', text: text, space: space})
			i = len(s) - len(rest)
		case c == '(':
			depth, j := 0, i
			var b strings.Builder
		comment:
			for ; j < len(s); j++ {
				switch s[j] {
				case '\\':
					if j+1 < len(s) {
						j++
						b.WriteByte(s[j])
					}
					continue
				case '(':
					depth++
					if depth == 1 {
						continue
					}
				case ')':
					depth--
					if depth == 0 {
						j++
						break comment
					}
				}
				b.WriteByte(s[j])
			}
			toks = append(toks, addrToken{kind: 'c', text: b.String(), space: space})
			i = j
		case c == '[':
			j := strings.IndexByte(s[i:], ']')
			if j < 0 {
				j = len(s) - i - 1
			}
			toks = append(toks, addrToken{kind: 'l', text: s[i : i+j+1], space: space})
			i += j + 1
		case strings.IndexByte("<>:;,@.", c) >= 0:
			toks = append(toks, addrToken{kind: c, space: space})
			i++
		default:
			j := i
			for j < len(s) && strings.IndexByte(" \t\r\n\"()[]<>:;,@.", s[j]) < 0 {
				j++
			}
			if j == i { // a stray ')' or ']'
				j++
			}
			toks = append(toks, addrToken{kind: 'a', text: s[i:j], space: space})
			i = j
		}
		space = false
	}
	return toks
}

// parseAddressList parses an address-list header value (RFC 5322 3.4)
// into IMAP envelope addresses, leniently: what cannot be read as an
// address is skipped, never fatal.
func parseAddressList(s string) []Address {
	toks := lexAddressList(s)
	var out []Address
	for len(toks) > 0 {
		// A group is a phrase followed by ':' before any '<', '@' or ','.
		colon := -1
	scan:
		for i, t := range toks {
			switch t.kind {
			case ':':
				colon = i
				break scan
			case '<', '@', ',', ';':
				break scan
			}
		}
		if colon >= 0 {
			name := phrase(toks[:colon])
			toks = toks[colon+1:]
			end := len(toks)
			for i, t := range toks {
				if t.kind == ';' {
					end = i
					break
				}
			}
			if name == "" {
				name = "undisclosed-recipients"
			}
			out = append(out, Address{Mailbox: name}) // RFC 3501 7.4.2: group start
			out = append(out, parseMailboxes(toks[:end])...)
			out = append(out, Address{}) // group end
			if end < len(toks) {
				end++
			}
			toks = toks[end:]
			continue
		}
		end := len(toks)
		depth := 0
		for i, t := range toks {
			if t.kind == '<' {
				depth++
			} else if t.kind == '>' && depth > 0 {
				depth--
			} else if (t.kind == ',' || t.kind == ';') && depth == 0 {
				end = i
				break
			}
		}
		if a, ok := parseMailbox(toks[:end]); ok {
			out = append(out, a)
		}
		if end < len(toks) {
			end++
		}
		toks = toks[end:]
	}
	return out
}

// parseMailboxes parses a comma-separated mailbox list (inside a group).
func parseMailboxes(toks []addrToken) []Address {
	var out []Address
	for len(toks) > 0 {
		end := len(toks)
		depth := 0
		for i, t := range toks {
			if t.kind == '<' {
				depth++
			} else if t.kind == '>' && depth > 0 {
				depth--
			} else if t.kind == ',' && depth == 0 {
				end = i
				break
			}
		}
		if a, ok := parseMailbox(toks[:end]); ok {
			out = append(out, a)
		}
		if end < len(toks) {
			end++
		}
		toks = toks[end:]
	}
	return out
}

// parseMailbox reads `[phrase] "<" addr-spec ">"` or a bare addr-spec,
// possibly followed by a comment that old mailers used for the name.
func parseMailbox(toks []addrToken) (Address, bool) {
	lt := -1
	for i, t := range toks {
		if t.kind == '<' {
			lt = i
			break
		}
	}
	var a Address
	var spec []addrToken
	if lt >= 0 {
		a.Name = phrase(toks[:lt])
		spec = toks[lt+1:]
		for i, t := range spec {
			if t.kind == '>' {
				spec = spec[:i]
				break
			}
		}
		// RFC 5322 4.4 obs-route: "@a,@b:" before the address.
		for i, t := range spec {
			if t.kind == ':' {
				spec = spec[i+1:]
				break
			}
		}
	} else {
		spec = toks
	}
	var comment string
	var local, domain strings.Builder
	at := false
	for _, t := range spec {
		var text string
		switch t.kind {
		case 'c':
			comment = t.text
			continue
		case 'a', 'l':
			text = t.text
		case 'q':
			text = quote(t.text)
		case '.', '@', ':', '>', '<', ',', ';':
			if t.kind == '@' && !at {
				at = true
				continue
			}
			text = string(t.kind)
		}
		if at {
			domain.WriteString(text)
		} else {
			local.WriteString(text)
		}
	}
	if a.Name == "" && lt < 0 {
		a.Name = strings.TrimSpace(comment)
	}
	a.Mailbox = local.String()
	a.Host = domain.String()
	if a.Mailbox == "" && a.Host == "" {
		if a.Name == "" {
			return Address{}, false
		}
	}
	if a.Host == "" {
		a.Host = missingHost
	}
	return a, true
}

// phrase joins the words of a display name: quoted strings lose their
// quotes, encoded words stay as they are for the client to decode.
func phrase(toks []addrToken) string {
	var b strings.Builder
	for _, t := range toks {
		var text string
		switch t.kind {
		case 'a', 'q', 'l':
			text = t.text
		case 'c':
			continue
		default:
			text = string(t.kind)
		}
		if t.space && b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(text)
	}
	return strings.TrimSpace(b.String())
}

// quote returns s as a quoted-string if it is not a dot-atom text.
func quote(s string) string {
	plain := s != ""
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte("()<>[]:;@\\,.\"", c) >= 0 {
			plain = false
			break
		}
	}
	if plain {
		return s
	}
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}
