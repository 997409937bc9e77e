package mailbox

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Limits on mailbox names: generous for people, small enough for a LIST
// line and a database key.
const (
	maxNameBytes  = 512
	maxLevelBytes = 255
	maxLevels     = 32
)

// CanonicalName checks a mailbox name and returns it in canonical form:
// INBOX (case-insensitive, RFC 3501 5.1) spelled "INBOX", also as the
// first level of a child ("inbox/x" is "INBOX/x"), and one trailing
// delimiter dropped (RFC 3501 6.3.3: it only declares the intent to create
// children). It refuses, with ErrInvalidName, an empty name or level, a name
// that is not UTF-8, one with control characters or the LIST wildcards '*'
// and '%', and one over the length limits.
func CanonicalName(name string) (string, error) {
	orig := name
	name = strings.TrimSuffix(name, string(Delimiter))
	bad := func(why string) (string, error) {
		return "", fmt.Errorf("%w: %.80q: %s", ErrInvalidName, orig, why)
	}
	switch {
	case name == "":
		return bad("empty")
	case len(name) > maxNameBytes:
		return bad(fmt.Sprintf("longer than %d bytes", maxNameBytes))
	case !utf8.ValidString(name):
		return bad("not UTF-8")
	}
	for _, r := range name {
		switch {
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0):
			return bad("control character")
		case r == '*' || r == '%':
			return bad("wildcard character")
		case r == utf8.RuneError:
			return bad("not UTF-8")
		}
	}
	levels := strings.Split(name, string(Delimiter))
	if len(levels) > maxLevels {
		return bad(fmt.Sprintf("more than %d levels", maxLevels))
	}
	for _, l := range levels {
		if l == "" {
			return bad("empty hierarchy level")
		}
		if len(l) > maxLevelBytes {
			return bad(fmt.Sprintf("level longer than %d bytes", maxLevelBytes))
		}
	}
	if strings.EqualFold(levels[0], Inbox) {
		levels[0] = Inbox
	}
	return strings.Join(levels, string(Delimiter)), nil
}

// parents returns the ancestors of a canonical name, outermost first:
// "a/b/c" has "a" and "a/b".
func parents(name string) []string {
	var out []string
	for i := 0; i < len(name); i++ {
		if name[i] == Delimiter {
			out = append(out, name[:i])
		}
	}
	return out
}

// isBelow reports whether name is a descendant of parent.
func isBelow(name, parent string) bool {
	return len(name) > len(parent) && name[len(parent)] == Delimiter && name[:len(parent)] == parent
}

// defaultMailboxes is the set every user gets on first use (RFC 6154).
var defaultMailboxes = []struct {
	name string
	use  SpecialUse
}{
	{Inbox, UseNone},
	{"Drafts", UseDrafts},
	{"Sent", UseSent},
	{"Junk", UseJunk},
	{"Trash", UseTrash},
	{"Archive", UseArchive},
}

// validUse reports whether use is a special use the store accepts.
func validUse(use SpecialUse) bool {
	switch use {
	case UseNone, UseArchive, UseDrafts, UseJunk, UseSent, UseTrash:
		return true
	}
	return false
}
