package submission

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"
)

// maxLine is the longest line RFC 5321 4.5.3.1.6 allows, CRLF included.
const maxLine = 1000

// field is one header field exactly as it came, continuation lines and
// CRLFs included, so that what we pass on is what the user wrote.
type field struct {
	name string // lower case
	raw  []byte
}

// value is the field body unfolded (RFC 5322 2.2.3), without the name.
func (f field) value() string {
	_, v, _ := bytes.Cut(f.raw, []byte{':'})
	s := strings.ReplaceAll(string(v), "\r\n", "")
	return strings.TrimSpace(s)
}

// message is a submitted message split into its header fields and body.
type message struct {
	fields []field
	body   []byte // what follows the blank line; nil when there is none
}

// parseMessage splits msg (CRLF line endings, already checked by
// checkLines) into header fields and body. A header line must be a field
// (name, colon) or the continuation of one (RFC 5322 2.2); anything else is
// refused, since we cannot tell where the header would end. The fields and
// the body are slices of msg, not copies.
func parseMessage(msg []byte) (*message, error) {
	m := &message{}
	pos := 0
	fieldStart := -1 // where the last field began in msg
	for pos < len(msg) {
		i := bytes.Index(msg[pos:], []byte("\r\n"))
		if i < 0 {
			return nil, errors.New("the header does not end with CRLF")
		}
		end := pos + i + 2
		line := msg[pos:end]
		if i == 0 { // RFC 5322 2.1: the blank line ends the header
			m.body = msg[end:]
			return m, nil
		}
		if line[0] == ' ' || line[0] == '\t' {
			if fieldStart < 0 {
				return nil, errors.New("the header starts with a continuation line")
			}
			// The cap stops an append to one field from writing over
			// the next.
			m.fields[len(m.fields)-1].raw = msg[fieldStart:end:end]
			pos = end
			continue
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 {
			return nil, fmt.Errorf("header line %.40q is not a field (no name and colon); put a blank line before the body", line[:i])
		}
		name := bytes.TrimRight(line[:colon], " \t") // RFC 5322 4.5.3: obsolete WSP before the colon
		for _, c := range name {
			if c < 33 || c > 126 { // RFC 5322 2.2: printable US-ASCII except colon
				return nil, fmt.Errorf("header field name %.40q has a character RFC 5322 2.2 does not allow", name)
			}
		}
		m.fields = append(m.fields, field{name: lowerName(name), raw: line[:len(line):len(line)]})
		fieldStart = pos
		pos = end
	}
	return m, nil // a message may be all header (RFC 5322 3.5: the body is optional)
}

// lowerName returns a field name in lower case, without allocating for
// the names most messages have.
func lowerName(name []byte) string {
	var buf [32]byte
	if len(name) > len(buf) {
		return strings.ToLower(string(name))
	}
	lower := buf[:len(name)]
	for i, c := range name {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		lower[i] = c
	}
	switch string(lower) { // the conversion does not allocate here
	case "from":
		return "from"
	case "to":
		return "to"
	case "cc":
		return "cc"
	case "bcc":
		return "bcc"
	case "subject":
		return "subject"
	case "date":
		return "date"
	case "message-id":
		return "message-id"
	case "sender":
		return "sender"
	case "mime-version":
		return "mime-version"
	case "content-type":
		return "content-type"
	}
	return string(lower)
}

// get returns the fields called name (lower case).
func (m *message) get(name string) []field {
	var out []field
	for _, f := range m.fields {
		if f.name == name {
			out = append(out, f)
		}
	}
	return out
}

// remove drops every field called name and reports how many there were.
func (m *message) remove(name string) int {
	kept := m.fields[:0]
	n := 0
	for _, f := range m.fields {
		if f.name == name {
			n++
			continue
		}
		kept = append(kept, f)
	}
	m.fields = kept
	return n
}

func (m *message) add(name, value string) {
	m.fields = append(m.fields, field{name: strings.ToLower(name), raw: []byte(name + ": " + value + "\r\n")})
}

// bytes renders the message: fields in order, the blank line, the body.
func (m *message) bytes(prefix []byte) []byte {
	return m.appendTo(append(make([]byte, 0, len(prefix)+m.size()), prefix...))
}

// size is the length of the rendered message.
func (m *message) size() int {
	n := len(m.body) + 2
	for _, f := range m.fields {
		n += len(f.raw)
	}
	return n
}

// appendTo appends the rendered message to dst.
func (m *message) appendTo(dst []byte) []byte {
	for _, f := range m.fields {
		dst = append(dst, f.raw...)
	}
	dst = append(dst, "\r\n"...)
	return append(dst, m.body...)
}

// authorAddresses returns the addresses of the From field, and of Sender
// when present (RFC 5322 3.6.2), each of which must be the user's. A
// missing From is added from the envelope sender; more than one is refused
// (RFC 5322 3.6: exactly one).
func (m *message) authorAddresses(envFrom string) (from []string, sender string, err error) {
	fs := m.get("from")
	switch len(fs) {
	case 0:
		m.add("From", "<"+envFrom+">") // RFC 6409 8.1 (Sender/From added on submission)
		return []string{envFrom}, "", nil
	case 1:
	default:
		return nil, "", fmt.Errorf("%d From fields, RFC 5322 3.6 allows exactly one", len(fs))
	}
	list, perr := mail.ParseAddressList(fs[0].value())
	if perr != nil {
		return nil, "", fmt.Errorf("field From: %v", perr)
	}
	if len(list) == 0 {
		return nil, "", errors.New("field From has no address")
	}
	for _, a := range list {
		from = append(from, a.Address)
	}
	switch ss := m.get("sender"); len(ss) {
	case 0:
	case 1:
		a, perr := mail.ParseAddress(ss[0].value())
		if perr != nil {
			return nil, "", fmt.Errorf("field Sender: %v", perr)
		}
		sender = a.Address
	default:
		return nil, "", fmt.Errorf("%d Sender fields, RFC 5322 3.6 allows at most one", len(ss))
	}
	// RFC 5322 3.6.2: with several authors, Sender is required.
	if len(from) > 1 && sender == "" {
		return nil, "", errors.New("field From has several addresses but there is no Sender field (RFC 5322 3.6.2)")
	}
	return from, sender, nil
}

// fixUp applies the submission fix-ups of RFC 6409 8: Bcc removed (RFC
// 5322 3.6.3: the copies must not show blind recipients), Date and
// Message-ID added when missing. domain is the right side of a new
// Message-ID.
func (m *message) fixUp(now time.Time, domain string) {
	m.remove("bcc")
	if len(m.get("date")) == 0 {
		m.add("Date", now.Format(time.RFC1123Z)) // RFC 5322 3.6.1
	}
	if len(m.get("message-id")) == 0 {
		m.add("Message-ID", newMessageID(now, domain)) // RFC 5322 3.6.4
	}
}

// newTraceID names the submission in our Received field and the program
// log, before the queue has given its own ID.
func newTraceID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func newMessageID(now time.Time, domain string) string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("<%s.%s@%s>", now.UTC().Format("20060102150405"), hex.EncodeToString(b[:]), domain)
}

// checkLines refuses bare CR, bare LF (RFC 5321 2.3.8) and lines over 998
// octets plus CRLF (RFC 5321 4.5.3.1.6).
func checkLines(msg []byte) *reply {
	var prev byte
	line := 0
	for _, c := range msg {
		switch {
		case c == '\n' && prev != '\r':
			return &replyBareNewline
		case prev == '\r' && c != '\n':
			return &replyBareNewline
		}
		switch c {
		case '\n':
			line = 0
		case '\r':
		default:
			if line++; line > maxLine-2 {
				return &replyLongLine
			}
		}
		prev = c
	}
	if prev == '\r' {
		return &replyBareNewline
	}
	return nil
}

// receivedField is the trace field we put on top (RFC 5321 4.4). By
// default it names neither the client's address nor its EHLO name; with
// reveal it has both. "ESMTPSA" and friends are RFC 3848's with-protocols.
func receivedField(helo, ip string, reveal, tls, auth bool, hostname, id string, now time.Time) []byte {
	proto := "ESMTP"
	if tls {
		proto += "S"
	}
	if auth {
		proto += "A"
	}
	var b strings.Builder
	b.WriteString("Received: ")
	if reveal {
		fmt.Fprintf(&b, "from %s ([%s])\r\n\t", cleanHelo(helo), ip)
	}
	fmt.Fprintf(&b, "by %s (Cabalmail) with %s id %s;\r\n\t%s\r\n", hostname, proto, id, now.Format(time.RFC1123Z))
	return []byte(b.String())
}

// cleanHelo keeps an EHLO argument to the characters a domain or address
// literal may have, so a client cannot write into our trace field.
func cleanHelo(h string) string {
	var b strings.Builder
	for _, c := range h {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', strings.ContainsRune(".-[]:_", c):
			b.WriteRune(c)
		}
		if b.Len() >= 255 {
			break
		}
	}
	if b.Len() == 0 {
		return "unknown"
	}
	return b.String()
}
