package mailbox

import (
	"bytes"
	"io"
	"mime"
	"strings"
	"unicode/utf8"

	"github.com/emersion/go-message/charset"
)

// searchFields are the header fields whose decoded values are cached per
// message (the store's search column) and kept in memory for searching:
// the fields of SEARCH FROM, TO, CC, BCC and SUBJECT and the ones clients
// ask for most with SEARCH HEADER.
var searchFields = []string{"subject", "from", "to", "cc", "bcc", "reply-to", "sender", "message-id", "in-reply-to", "references"}

// searchFieldIndex returns the position of name in searchFields, or -1.
func searchFieldIndex(name string) int {
	for i, f := range searchFields {
		if strings.EqualFold(f, name) {
			return i
		}
	}
	return -1
}

var wordDecoder = &mime.WordDecoder{CharsetReader: charset.Reader}

// foldText prepares text for a case-insensitive substring match (RFC 3501
// 6.4.4): encoded words (RFC 2047) are decoded to UTF-8, and the result is
// lower-cased.
func foldHeaderValue(v string) string {
	if strings.Contains(v, "=?") {
		if d, err := wordDecoder.DecodeHeader(v); err == nil {
			v = d
		}
	}
	return foldString(v)
}

// foldString lower-cases s, replacing invalid UTF-8 and dropping NUL (the
// separator of the stored form).
func foldString(s string) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	s = strings.ToLower(s)
	if strings.IndexByte(s, 0) >= 0 {
		s = strings.ReplaceAll(s, "\x00", "")
	}
	return s
}

// searchFieldsOf returns the folded values of searchFields in the header of
// the message: for each, "" if absent, else presentMark and the values of
// all its instances joined by newlines.
func searchFieldsOf(raw []byte, root *Part) []string {
	fields := parseHeader(raw[root.HeaderStart:root.BodyStart])
	out := make([]string, len(searchFields))
	for i, name := range searchFields {
		vals := getAllFields(fields, name)
		for j, v := range vals {
			vals[j] = foldHeaderValue(v)
		}
		if len(vals) > 0 {
			out[i] = presentMark + strings.Join(vals, "\n")
		}
	}
	return out
}

// encodeSearch and decodeSearch convert search field values to and from
// their stored form: NUL-separated.
func encodeSearch(vals []string) []byte { return []byte(strings.Join(vals, "\x00")) }

func decodeSearch(b []byte) []string {
	vals := strings.Split(string(b), "\x00")
	if len(vals) != len(searchFields) {
		out := make([]string, len(searchFields))
		copy(out, vals)
		return out
	}
	return vals
}

// decodedText returns the content of a text part decoded from its transfer
// encoding and charset, as UTF-8, appended to dst. Broken encodings yield
// what could be decoded; an unknown charset leaves the bytes as they are.
func decodedText(dst, raw []byte, p *Part) []byte {
	body := raw[p.BodyStart:p.End]
	start := len(dst)
	switch p.Encoding {
	case "base64":
		dst = decodeBase64(dst, body)
	case "quoted-printable":
		dst = decodeQP(dst, body)
	default:
		dst = append(dst, body...)
	}
	if cs := strings.ToLower(p.Params["charset"]); cs != "" && cs != "us-ascii" && cs != "utf-8" && cs != "utf8" {
		if cr, err := charset.Reader(cs, bytes.NewReader(dst[start:])); err == nil {
			if conv, err := io.ReadAll(cr); err == nil || len(conv) > 0 {
				dst = append(dst[:start], conv...)
			}
		}
	}
	return dst
}

// decodeBase64 appends the decoding of b to dst, skipping everything that
// is not in the base64 alphabet and stopping at the first padding.
func decodeBase64(dst, b []byte) []byte {
	var acc uint32
	n := 0
	for _, c := range b {
		var v byte
		switch {
		case c >= 'A' && c <= 'Z':
			v = c - 'A'
		case c >= 'a' && c <= 'z':
			v = c - 'a' + 26
		case c >= '0' && c <= '9':
			v = c - '0' + 52
		case c == '+':
			v = 62
		case c == '/':
			v = 63
		case c == '=':
			return flushBase64(dst, acc, n)
		default:
			continue
		}
		acc = acc<<6 | uint32(v)
		n++
		if n == 4 {
			dst = append(dst, byte(acc>>16), byte(acc>>8), byte(acc))
			acc, n = 0, 0
		}
	}
	return flushBase64(dst, acc, n)
}

func flushBase64(dst []byte, acc uint32, n int) []byte {
	switch n {
	case 2:
		dst = append(dst, byte(acc>>4))
	case 3:
		dst = append(dst, byte(acc>>10), byte(acc>>2))
	}
	return dst
}

// decodeQP appends the quoted-printable decoding (RFC 2045 6.7) of b to
// dst: "=XX" is a byte, "=" at the end of a line joins it to the next, and
// anything malformed is kept as it is.
func decodeQP(dst, b []byte) []byte {
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c != '=' {
			dst = append(dst, c)
			continue
		}
		if i+2 < len(b) && b[i+1] == '\r' && b[i+2] == '\n' {
			i += 2
			continue
		}
		if i+1 < len(b) && b[i+1] == '\n' {
			i++
			continue
		}
		if i+2 < len(b) {
			if h, ok := unhex(b[i+1]); ok {
				if l, ok := unhex(b[i+2]); ok {
					dst = append(dst, h<<4|l)
					i += 2
					continue
				}
			}
		}
		dst = append(dst, c)
	}
	return dst
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

// textParts calls fn for each leaf text part of the tree, and for each
// encapsulated message's header, in order. It stops when fn returns false.
func textParts(p *Part, fn func(p *Part, header bool) bool) bool {
	switch {
	case len(p.Parts) > 0:
		for _, c := range p.Parts {
			if !textParts(c, fn) {
				return false
			}
		}
	case p.Message != nil:
		if !fn(p.Message, true) {
			return false
		}
		return textParts(p.Message, fn)
	case p.Type == "text":
		return fn(p, false)
	}
	return true
}

// foldInto appends text lower-cased to dst, the way foldString folds: an
// ASCII text byte by byte, others as UTF-8 with invalid bytes replaced.
func foldInto(dst, text []byte) []byte {
	start := len(dst)
	dst = append(dst, text...)
	low := dst[start:]
	for i, c := range low {
		if c >= utf8.RuneSelf {
			return append(dst[:start], bytes.ToLower(bytes.ToValidUTF8(text, []byte("\uFFFD")))...)
		}
		if c >= 'A' && c <= 'Z' {
			low[i] = c + 'a' - 'A'
		}
	}
	return dst
}
