package mailbox

import (
	"fmt"
	"sort"
	"strings"
)

// systemFlagNames are the system flags in the order Names lists them.
var systemFlagNames = []struct {
	flag SystemFlags
	name string
}{
	{FlagSeen, `\Seen`},
	{FlagAnswered, `\Answered`},
	{FlagFlagged, `\Flagged`},
	{FlagDeleted, `\Deleted`},
	{FlagDraft, `\Draft`},
}

// maxKeywordLen bounds a keyword's length.
const maxKeywordLen = 128

// ParseFlags builds Flags from IMAP flag names: system flags are matched
// case-insensitively; anything else must be a keyword, an IMAP atom
// (RFC 3501 9 flag-keyword). \Recent and other backslash names are refused
// with ErrInvalidFlag, since a client cannot set them.
func ParseFlags(names []string) (Flags, error) {
	var f Flags
	var kw []string
	for _, n := range names {
		if strings.HasPrefix(n, `\`) {
			found := false
			for _, s := range systemFlagNames {
				if strings.EqualFold(n, s.name) {
					f.System |= s.flag
					found = true
					break
				}
			}
			if !found {
				return Flags{}, fmt.Errorf("%w: %.80q cannot be set", ErrInvalidFlag, n)
			}
			continue
		}
		if !isAtom(n) || len(n) > maxKeywordLen {
			return Flags{}, fmt.Errorf("%w: keyword %.80q", ErrInvalidFlag, n)
		}
		kw = append(kw, n)
	}
	f.Keywords = normalizeKeywords(kw)
	return f, nil
}

// normalizeKeywords sorts keywords and drops case-insensitive duplicates,
// keeping the first spelling.
func normalizeKeywords(kw []string) []string {
	if len(kw) == 0 {
		return nil
	}
	out := make([]string, 0, len(kw))
	for _, k := range kw {
		dup := false
		for _, o := range out {
			if strings.EqualFold(o, k) {
				dup = true
				break
			}
		}
		if !dup {
			out = append(out, k)
		}
	}
	sort.Slice(out, func(i, j int) bool { return strings.ToLower(out[i]) < strings.ToLower(out[j]) })
	return out
}

// isAtom reports whether s is an IMAP atom (RFC 3501 9): no control
// characters, spaces, non-ASCII or atom-specials.
func isAtom(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`(){%*"\]`, c) >= 0 {
			return false
		}
	}
	return true
}

// Names returns the flags as IMAP names: system flags first, then
// keywords.
func (f Flags) Names() []string {
	out := make([]string, 0, 5+len(f.Keywords))
	for _, s := range systemFlagNames {
		if f.System&s.flag != 0 {
			out = append(out, s.name)
		}
	}
	return append(out, f.Keywords...)
}

// Has reports whether the flag or keyword name is set (case-insensitive).
func (f Flags) Has(name string) bool {
	for _, s := range systemFlagNames {
		if strings.EqualFold(name, s.name) {
			return f.System&s.flag != 0
		}
	}
	for _, k := range f.Keywords {
		if strings.EqualFold(k, name) {
			return true
		}
	}
	return false
}
