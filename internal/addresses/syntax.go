package addresses

import (
	"fmt"
	"strings"
)

// Length limits.
const (
	maxLocal   = 64  // RFC 5321 4.5.3.1.1: local part, octets
	maxAddress = 254 // RFC 5321 4.5.3.1.3: 256-octet path minus the angle brackets
	maxLabel   = 63  // RFC 1035 2.3.4: label, octets
	maxDomain  = 253 // RFC 1035 2.3.4: 255 octets on the wire is 253 in text
)

// Parsed is an address split into its parts, all lower-case.
type Parsed struct {
	Local     string
	Subdomain string
	Apex      string
}

// String returns the canonical form local@sub.apex.
func (p Parsed) String() string {
	return p.Local + "@" + p.Subdomain + "." + p.Apex
}

// Domain returns sub.apex.
func (p Parsed) Domain() string {
	return p.Subdomain + "." + p.Apex
}

// ValidateLocal reports whether local is an acceptable local part: an
// RFC 5322 dot-atom of ASCII atext, 1 to 64 octets, with no quoted strings
// and no whitespace. Upper-case letters are valid; the canonical form
// lower-cases them.
func ValidateLocal(local string) error {
	if why := localProblem(local); why != "" {
		return errorf(ErrInvalid, "local part %q %s", local, why)
	}
	return nil
}

// ValidateLabel reports whether label is an acceptable subdomain label under
// the LDH rule: letters, digits and hyphens, 1 to 63 octets, no hyphen first
// or last, and no "--" in positions 3 and 4.
func ValidateLabel(label string) error {
	if why := labelProblem(label); why != "" {
		return errorf(ErrInvalid, "label %q %s", label, why)
	}
	return nil
}

// isAtext reports whether c is RFC 5322 3.2.3 atext.
func isAtext(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-/=?^_`{|}~", c) >= 0
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f'
}

// localProblem returns why local is not acceptable, or "" if it is.
func localProblem(local string) string {
	if local == "" {
		return "is empty"
	}
	if len(local) > maxLocal { // RFC 5321 4.5.3.1.1
		return fmt.Sprintf("is %d octets long; at most %d are allowed (RFC 5321 4.5.3.1.1)", len(local), maxLocal)
	}
	for i := 0; i < len(local); i++ {
		c := local[i]
		switch {
		case c >= 0x80:
			return "contains non-ASCII characters"
		case isSpace(c):
			return "contains whitespace"
		case c < 0x20 || c == 0x7f:
			return "contains control characters"
		case c == '"':
			return "contains a quote; quoted local parts are not accepted"
		case c == '.' || isAtext(c):
		default:
			return fmt.Sprintf("contains %q, which is not allowed in a local part (RFC 5322 3.2.3)", string(c))
		}
	}
	// RFC 5322 3.4.1: dot-atom, so no dot first, last or doubled.
	switch {
	case local[0] == '.':
		return "starts with a dot"
	case local[len(local)-1] == '.':
		return "ends with a dot"
	case strings.Contains(local, ".."):
		return "contains two dots in a row"
	}
	return ""
}

// labelProblem returns why label is not an acceptable DNS label, or "" if
// it is.
func labelProblem(label string) string {
	if label == "" {
		return "is empty"
	}
	if len(label) > maxLabel { // RFC 1035 2.3.4
		return fmt.Sprintf("is %d octets long; at most %d are allowed (RFC 1035 2.3.4)", len(label), maxLabel)
	}
	for i := 0; i < len(label); i++ {
		c := label[i]
		switch {
		case c >= 0x80:
			return "contains non-ASCII characters; internationalized names are not supported"
		case isSpace(c):
			return "contains whitespace"
		case c < 0x20 || c == 0x7f:
			return "contains control characters"
		// RFC 1035 2.3.1 with RFC 1123 2.1: letters, digits, hyphen; a digit may come first.
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-':
		default:
			return fmt.Sprintf("contains %q; only letters, digits and hyphens are allowed (RFC 1035 2.3.1)", string(c))
		}
	}
	switch {
	case label[0] == '-':
		return "starts with a hyphen (RFC 1035 2.3.1)"
	case label[len(label)-1] == '-':
		return "ends with a hyphen (RFC 1035 2.3.1)"
	case len(label) >= 4 && label[2:4] == "--":
		// RFC 5891 4.2.3.1: "--" in positions 3 and 4 is reserved for
		// encoded (xn--) names; without IDNA we cannot check them.
		return "has hyphens in positions 3 and 4, which are reserved for encoded names (RFC 5891 4.2.3.1)"
	}
	return ""
}

// parse splits addr into its parts and checks every syntax rule against the
// configured apexes, which must be lower-case without a trailing dot.
func parse(addr string, apexes []string) (Parsed, error) {
	if addr == "" {
		return Parsed{}, errorf(ErrInvalid, "address is empty")
	}
	if isSpace(addr[0]) || isSpace(addr[len(addr)-1]) {
		return Parsed{}, errorf(ErrInvalid, "%q: has leading or trailing whitespace", addr)
	}
	if len(addr) > maxAddress { // RFC 5321 4.5.3.1.3
		return Parsed{}, errorf(ErrInvalid, "%q: is %d octets long; at most %d are allowed (RFC 5321 4.5.3.1.3)", addr, len(addr), maxAddress)
	}
	at := strings.IndexByte(addr, '@')
	switch {
	case at < 0:
		return Parsed{}, errorf(ErrInvalid, "%q: has no @", addr)
	case strings.IndexByte(addr[at+1:], '@') >= 0:
		return Parsed{}, errorf(ErrInvalid, "%q: contains more than one @", addr)
	}
	local, domain := addr[:at], strings.ToLower(addr[at+1:])
	if why := localProblem(local); why != "" {
		return Parsed{}, errorf(ErrInvalid, "%q: local part %s", addr, why)
	}
	if domain == "" {
		return Parsed{}, errorf(ErrInvalid, "%q: has no domain", addr)
	}
	if len(domain) > maxDomain { // RFC 1035 2.3.4
		return Parsed{}, errorf(ErrInvalid, "%q: domain is %d octets long; at most %d are allowed (RFC 1035 2.3.4)", addr, len(domain), maxDomain)
	}
	if strings.HasSuffix(domain, ".") {
		return Parsed{}, errorf(ErrInvalid, "%q: domain ends with a dot", addr)
	}
	labels := strings.Split(domain, ".")
	for _, l := range labels {
		if why := labelProblem(l); why != "" {
			if l == "" {
				return Parsed{}, errorf(ErrInvalid, "%q: domain has an empty label", addr)
			}
			return Parsed{}, errorf(ErrInvalid, "%q: domain label %q %s", addr, l, why)
		}
	}
	if len(labels) < 2 {
		return Parsed{}, errorf(ErrInvalid, "%q: domain %q needs one subdomain label in front of a configured apex (local@sub.apex)", addr, domain)
	}
	p, err := splitDomain(addr, domain, apexes)
	if err != nil {
		return Parsed{}, err
	}
	p.Local = strings.ToLower(local)
	return p, nil
}

// splitDomain finds the configured apex that leaves exactly one label in
// front of it. When apexes nest (example.test and mail.example.test) only
// one of them can leave exactly one label.
func splitDomain(addr, domain string, apexes []string) (Parsed, error) {
	deeper := ""
	for _, apex := range apexes {
		if domain == apex {
			// DESIGN.md §4: no apex addresses.
			return Parsed{}, errorf(ErrInvalid, "%q: is on the apex %q itself; an address needs one subdomain label in front of it (local@sub.%s)", addr, apex, apex)
		}
	}
	for _, apex := range apexes {
		if !strings.HasSuffix(domain, "."+apex) {
			continue
		}
		sub := domain[:len(domain)-len(apex)-1]
		if !strings.Contains(sub, ".") {
			return Parsed{Subdomain: sub, Apex: apex}, nil
		}
		if len(apex) > len(deeper) {
			deeper = apex
		}
	}
	if deeper != "" {
		sub := domain[:len(domain)-len(deeper)-1]
		return Parsed{}, errorf(ErrInvalid, "%q: has %d labels (%q) in front of apex %q; exactly one subdomain label is allowed", addr, strings.Count(sub, ".")+1, sub, deeper)
	}
	apex := domain[strings.IndexByte(domain, '.')+1:]
	return Parsed{}, errorf(ErrUnknownApex, "apex %q is not configured (add it with \"cabalmail domain add\")", apex)
}
