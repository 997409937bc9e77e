package maillog

import (
	"errors"
	"strings"
	"unicode"
	"unicode/utf8"
)

const hexDigits = "0123456789abcdef"

// appendEscaped appends s with every byte of an unsafe rune written as \xNN.
// Unsafe are: control and format characters (C0, DEL, C1, bidi overrides,
// zero-width marks), line and paragraph separators, invalid UTF-8, the
// backslash itself, and the field's own separator characters in special.
// Everything else, including non-ASCII addresses (RFC 6531), is kept as is so
// the log stays greppable.
func appendEscaped(b []byte, s, special string) []byte {
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size <= 1 || mustEscape(r, special) {
			for _, c := range []byte(s[i : i+size]) {
				b = append(b, '\\', 'x', hexDigits[c>>4], hexDigits[c&0xf])
			}
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return b
}

func mustEscape(r rune, special string) bool {
	return r == '\\' ||
		unicode.IsControl(r) ||
		unicode.In(r, unicode.Cf, unicode.Zl, unicode.Zp) ||
		r < utf8.RuneSelf && strings.ContainsRune(special, r)
}

var errNonCanonical = errors.New("not in canonical escaped form")

// unescape reverses appendEscaped. It accepts only what appendEscaped would
// have written, so that every line Parse accepts formats back to itself.
func unescape(s, special string) (string, error) {
	if !strings.Contains(s, `\`) {
		if string(appendEscaped(nil, s, special)) != s {
			return "", errNonCanonical
		}
		return s, nil
	}
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			out = append(out, s[i])
			continue
		}
		if i+3 >= len(s) || s[i+1] != 'x' {
			return "", errors.New(`bad escape: want \xNN`)
		}
		hi, lo := strings.IndexByte(hexDigits, s[i+2]), strings.IndexByte(hexDigits, s[i+3])
		if hi < 0 || lo < 0 {
			return "", errors.New(`bad escape: want \xNN with lower-case hex digits`)
		}
		out = append(out, byte(hi<<4|lo))
		i += 3
	}
	if string(appendEscaped(nil, string(out), special)) != s {
		return "", errNonCanonical
	}
	return string(out), nil
}
