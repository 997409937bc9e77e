package imapd

import (
	"bytes"
	"encoding/base64"
	"io"
	"mime/quotedprintable"
	"strings"

	"github.com/emersion/go-imap/v2"

	"github.com/cabalmail/cabalmail/internal/mailbox"
)

// findPart resolves a section part number (RFC 3501 6.4.5 section-part) to
// a MIME entity of the message whose root is root. nil: no such part.
func findPart(root *mailbox.Part, path []int) *mailbox.Part {
	p := root
	for i, n := range path {
		if i > 0 && p.Message != nil {
			// The parts of a message/rfc822 part are those of the
			// encapsulated message.
			p = p.Message
		}
		if p.Type == "multipart" {
			if n < 1 || n > len(p.Parts) {
				return nil
			}
			p = p.Parts[n-1]
		} else if n != 1 {
			// A non-multipart entity has exactly one part: itself.
			return nil
		}
	}
	return p
}

// sectionRange is where a BODY[...] section lies in the stored message:
// the bytes [start, end), or, when fields is set, the header [start, end)
// filtered by field names.
type sectionRange struct {
	start, end int64
	fields     []string
	not        bool // keep the fields not listed
}

// resolveSection maps a BODY[...] section (RFC 3501 6.4.5, RFC 9051 6.4.5)
// to a range of the message. ok is false if the message has no such part.
func resolveSection(root *mailbox.Part, sec *imap.FetchItemBodySection) (r sectionRange, ok bool) {
	p := findPart(root, sec.Part)
	if p == nil {
		return r, false
	}
	switch {
	case len(sec.Part) == 0 && sec.Specifier == imap.PartSpecifierNone:
		return sectionRange{start: root.HeaderStart, end: root.End}, true
	case sec.Specifier == imap.PartSpecifierNone:
		return sectionRange{start: p.BodyStart, end: p.End}, true
	case sec.Specifier == imap.PartSpecifierMIME:
		return sectionRange{start: p.HeaderStart, end: p.BodyStart}, true
	}
	// HEADER, HEADER.FIELDS (NOT) and TEXT name the header or text of a
	// message: the whole message, or a message/rfc822 part.
	m := p
	if len(sec.Part) > 0 {
		if p.Message == nil {
			return r, false
		}
		m = p.Message
	}
	switch {
	case sec.Specifier == imap.PartSpecifierText:
		return sectionRange{start: m.BodyStart, end: m.End}, true
	case len(sec.HeaderFields) > 0:
		return sectionRange{start: m.HeaderStart, end: m.BodyStart, fields: sec.HeaderFields}, true
	case len(sec.HeaderFieldsNot) > 0:
		return sectionRange{start: m.HeaderStart, end: m.BodyStart, fields: sec.HeaderFieldsNot, not: true}, true
	default:
		return sectionRange{start: m.HeaderStart, end: m.BodyStart}, true
	}
}

// filterHeader returns the fields of header h whose names are (or, with not,
// are not) in names, in their original order and form, followed by the
// blank line (RFC 3501 6.4.5: it is included in all header fetches).
func filterHeader(h []byte, names []string, not bool) []byte {
	var b bytes.Buffer
	for _, f := range parseHeaderFields(h) {
		listed := false
		for _, n := range names {
			if strings.EqualFold(n, f.name) {
				listed = true
				break
			}
		}
		if listed != not {
			b.Write(f.raw)
			if !bytes.HasSuffix(f.raw, []byte("\n")) {
				b.WriteString("\r\n")
			}
		}
	}
	b.WriteString("\r\n")
	return b.Bytes()
}

// partialRange applies <offset.count> (RFC 3501 6.4.5) to [start, end): an
// offset past the end gives an empty range.
func partialRange(start, end int64, partial *imap.SectionPartial) (int64, int64) {
	if partial == nil {
		return start, end
	}
	s := start + partial.Offset
	if s >= end || partial.Offset < 0 {
		return end, end
	}
	if partial.Size < end-s {
		end = s + partial.Size
	}
	return s, end
}

// applyPartial is partialRange on bytes already in memory.
func applyPartial(data []byte, partial *imap.SectionPartial) []byte {
	s, e := partialRange(0, int64(len(data)), partial)
	return data[s:e]
}

// decodeTransfer removes a Content-Transfer-Encoding (RFC 2045 6) for
// BINARY (RFC 3516 4.2, RFC 9051 6.4.5). ok is false for an encoding we do
// not know, which the caller reports as UNKNOWN-CTE.
func decodeTransfer(body []byte, encoding string) (out []byte, ok bool) {
	switch strings.ToLower(encoding) {
	case "", "7bit", "8bit", "binary":
		return body, true
	case "base64":
		// RFC 2045 6.8: characters outside the alphabet are ignored.
		clean := make([]byte, 0, len(body))
		for _, ch := range body {
			if ch >= 'A' && ch <= 'Z' || ch >= 'a' && ch <= 'z' || ch >= '0' && ch <= '9' || ch == '+' || ch == '/' {
				clean = append(clean, ch)
			}
		}
		out, _ := io.ReadAll(base64.NewDecoder(base64.RawStdEncoding, bytes.NewReader(clean[:len(clean)/4*4+rawTail(len(clean))])))
		return out, true
	case "quoted-printable":
		// On a malformed escape, keep what decoded cleanly.
		out, _ := io.ReadAll(quotedprintable.NewReader(bytes.NewReader(body)))
		return out, true
	default:
		return nil, false
	}
}

// rawTail is how many trailing unpadded base64 characters can be decoded
// (a lone sixth bit group cannot).
func rawTail(n int) int {
	if n%4 == 1 {
		return 0
	}
	return n % 4
}
