package mailbox

import (
	"bytes"
	"encoding/base64"
	"io"
	"mime"
	"mime/quotedprintable"
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
// encoding and charset, as UTF-8. Broken encodings yield what could be
// decoded; an unknown charset leaves the bytes as they are.
func decodedText(raw []byte, p *Part) []byte {
	body := raw[p.BodyStart:p.End]
	var r io.Reader = bytes.NewReader(body)
	switch p.Encoding {
	case "base64":
		r = base64.NewDecoder(base64.StdEncoding, &base64Cleaner{r: r})
	case "quoted-printable":
		r = quotedprintable.NewReader(r)
	}
	if cs := strings.ToLower(p.Params["charset"]); cs != "" && cs != "us-ascii" && cs != "utf-8" && cs != "utf8" {
		if cr, err := charset.Reader(cs, r); err == nil {
			r = cr
		}
	}
	out, _ := io.ReadAll(r) // keep what was decoded before an error
	return out
}

// base64Cleaner drops everything but base64 alphabet characters, so line
// breaks and junk in a base64 body do not stop decoding.
type base64Cleaner struct{ r io.Reader }

func (c *base64Cleaner) Read(p []byte) (int, error) {
	for {
		n, err := c.r.Read(p)
		j := 0
		for _, b := range p[:n] {
			if b >= 'A' && b <= 'Z' || b >= 'a' && b <= 'z' || b >= '0' && b <= '9' || b == '+' || b == '/' || b == '=' {
				p[j] = b
				j++
			}
		}
		if j > 0 || err != nil {
			return j, err
		}
	}
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

// containsFolded reports whether text, lower-cased, contains term, which
// is already lower-cased. ASCII text is searched without copying.
func containsFolded(text []byte, term string) bool {
	if term == "" {
		return true
	}
	ascii := true
	for _, c := range text {
		if c >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if !ascii {
		return bytes.Contains(bytes.ToLower(bytes.ToValidUTF8(text, []byte("\uFFFD"))), []byte(term))
	}
	return indexFoldASCII(text, term) >= 0
}

// indexFoldASCII finds the lower-case term in ASCII text, ignoring case.
func indexFoldASCII(text []byte, term string) int {
	n := len(term)
	if n > len(text) {
		return -1
	}
	first := term[0]
	upper := first
	if first >= 'a' && first <= 'z' {
		upper = first - 'a' + 'A'
	}
	for i := 0; i+n <= len(text); {
		// Skip to the next possible first byte.
		j := bytes.IndexByte(text[i:len(text)-n+1], first)
		if upper != first {
			if k := bytes.IndexByte(text[i:len(text)-n+1], upper); k >= 0 && (j < 0 || k < j) {
				j = k
			}
		}
		if j < 0 {
			return -1
		}
		i += j
		match := true
		for k := 1; k < n; k++ {
			c := text[i+k]
			if c >= 'A' && c <= 'Z' {
				c += 'a' - 'A'
			}
			if c != term[k] {
				match = false
				break
			}
		}
		if match {
			return i
		}
		i++
	}
	return -1
}
