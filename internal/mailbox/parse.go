package mailbox

import (
	"bytes"
	"net/mail"
	"strings"
	"time"
)

// Limits that bound the work and the size of the cached structure of a
// hostile message. Deeper nesting is described as a leaf.
const (
	maxDepth    = 32    // multipart and message/rfc822 nesting
	maxParts    = 10000 // children of one multipart
	maxBoundary = 200   // RFC 2046 5.1.1 says 70; be lenient, but bounded
)

// Parse reads the MIME structure (RFC 2045, RFC 2046) of a stored message
// and returns its envelope and body structure. It never fails: a header or
// part that cannot be read is described as text/plain, so a malformed
// message is still stored and served. raw should use CRLF line endings
// (Append and Deliver normalize them); bare LF is tolerated.
func Parse(raw []byte) (*Envelope, *Part) {
	p, fields := parseEntity(raw, 0, len(raw), false, 0)
	return envelopeOf(fields), p
}

// parseEntity parses raw[start:end] as a header and a body. inDigest says
// the entity is a child of multipart/digest, where the default type is
// message/rfc822 (RFC 2046 5.1.5).
func parseEntity(raw []byte, start, end int, inDigest bool, depth int) (*Part, []headerField) {
	hlen := headerLength(raw[start:end])
	bodyStart := start + hlen
	fields := parseHeader(raw[start:bodyStart])
	p := &Part{HeaderStart: int64(start), BodyStart: int64(bodyStart), End: int64(end), Size: int64(end - bodyStart)}

	ok := false
	if ct, found := getField(fields, "Content-Type"); found {
		p.Type, p.Subtype, p.Params, ok = parseContentType(ct)
	}
	if !ok {
		if inDigest {
			p.Type, p.Subtype, p.Params = "message", "rfc822", nil
		} else {
			// RFC 2045 5.2: the default, also for an invalid Content-Type.
			p.Type, p.Subtype, p.Params = "text", "plain", map[string]string{"charset": "us-ascii"}
		}
	}
	p.ID, _ = getField(fields, "Content-ID")
	p.Description, _ = getField(fields, "Content-Description")
	if cte, found := getField(fields, "Content-Transfer-Encoding"); found {
		p.Encoding = strings.ToLower(strings.TrimSpace(stripComments(cte)))
	}
	p.MD5, _ = getField(fields, "Content-MD5")
	if d, found := getField(fields, "Content-Disposition"); found {
		v, params := parseValueParams(d)
		if isToken(v) {
			p.Disposition, p.DispositionParams = strings.ToLower(v), params
		}
	}
	if l, found := getField(fields, "Content-Language"); found {
		for _, tag := range strings.Split(stripComments(l), ",") {
			if tag = strings.TrimSpace(tag); tag != "" {
				p.Language = append(p.Language, tag)
			}
		}
	}
	if loc, found := getField(fields, "Content-Location"); found {
		// RFC 2557 4.4.2: a folded URL is unfolded without its white space.
		p.Location = strings.Join(strings.Fields(loc), "")
	}

	body := raw[bodyStart:end]
	switch {
	case p.Type == "multipart":
		if depth < maxDepth {
			p.Parts = parseMultipart(raw, bodyStart, end, p.Params["boundary"], p.Subtype == "digest", depth+1)
		}
		if len(p.Parts) == 0 {
			// No usable boundary: serve the body as text.
			p.Type, p.Subtype, p.Params = "text", "plain", map[string]string{"charset": "us-ascii"}
			p.Lines = countLines(body)
		}
	case p.Type == "message" && (p.Subtype == "rfc822" || p.Subtype == "global"):
		p.Lines = countLines(body)
		if depth < maxDepth && identityEncoding(p.Encoding) {
			inner, innerFields := parseEntity(raw, bodyStart, end, false, depth+1)
			p.Message, p.Envelope = inner, envelopeOf(innerFields)
		} else {
			// An encoded or too deeply nested message is not parsed: it is
			// described as an empty header and a text body.
			p.Envelope = &Envelope{}
			p.Message = &Part{Type: "text", Subtype: "plain", Params: map[string]string{"charset": "us-ascii"},
				Size: int64(len(body)), Lines: p.Lines, HeaderStart: int64(bodyStart), BodyStart: int64(bodyStart), End: int64(end)}
		}
	case p.Type == "text":
		p.Lines = countLines(body)
	}
	return p, fields
}

// identityEncoding reports whether a Content-Transfer-Encoding leaves the
// content as it is (RFC 2045 6.4: message/rfc822 may only use these).
func identityEncoding(e string) bool {
	return e == "" || e == "7bit" || e == "8bit" || e == "binary"
}

// countLines counts the lines of a body as BODYSTRUCTURE reports them: a
// last line without a line break counts too.
func countLines(b []byte) int64 {
	n := int64(bytes.Count(b, []byte("\n")))
	if len(b) > 0 && b[len(b)-1] != '\n' {
		n++
	}
	return n
}

// delimiter is a boundary delimiter line found in a multipart body.
type delimiter struct {
	lineStart int // first byte of the "--boundary" line
	next      int // first byte after the line
	close     bool
}

// parseMultipart splits raw[start:end] on the boundary (RFC 2046 5.1.1)
// and parses each body part. The line break before a delimiter belongs to
// the delimiter, not to the part. A missing close delimiter ends the last
// part at end.
func parseMultipart(raw []byte, start, end int, boundary string, digest bool, depth int) []*Part {
	if boundary == "" || len(boundary) > maxBoundary {
		return nil
	}
	delim := []byte("--" + boundary)
	var ds []delimiter
	for i := start; i < end; {
		lineEnd := end
		if j := bytes.IndexByte(raw[i:end], '\n'); j >= 0 {
			lineEnd = i + j
		}
		line := raw[i:lineEnd]
		if bytes.HasPrefix(line, delim) {
			rest := line[len(delim):]
			closing := bytes.HasPrefix(rest, []byte("--"))
			if closing {
				rest = rest[2:]
			}
			if len(bytes.TrimRight(rest, " \t\r")) == 0 {
				next := lineEnd + 1
				if next > end {
					next = end
				}
				ds = append(ds, delimiter{lineStart: i, next: next, close: closing})
				if closing || len(ds) > maxParts {
					break
				}
			}
		}
		i = lineEnd + 1
	}
	var parts []*Part
	for k, d := range ds {
		if d.close {
			break
		}
		partStart, partEnd := d.next, end
		if k+1 < len(ds) {
			partEnd = ds[k+1].lineStart
			if partEnd-2 >= partStart && raw[partEnd-2] == '\r' && raw[partEnd-1] == '\n' {
				partEnd -= 2
			} else if partEnd-1 >= partStart && raw[partEnd-1] == '\n' {
				partEnd--
			}
		}
		if partEnd < partStart {
			partEnd = partStart
		}
		p, _ := parseEntity(raw, partStart, partEnd, digest, depth)
		parts = append(parts, p)
		if len(parts) >= maxParts {
			break
		}
	}
	return parts
}

// envelopeOf builds the ENVELOPE of a message from its header fields
// (RFC 3501 7.4.2).
func envelopeOf(fields []headerField) *Envelope {
	e := &Envelope{}
	e.Date, _ = getField(fields, "Date")
	e.Subject, _ = getField(fields, "Subject")
	addrs := func(name string) []Address {
		v, _ := getField(fields, name)
		return parseAddressList(v)
	}
	e.From = addrs("From")
	e.Sender = addrs("Sender")
	e.ReplyTo = addrs("Reply-To")
	e.To = addrs("To")
	e.Cc = addrs("Cc")
	e.Bcc = addrs("Bcc")
	e.InReplyTo, _ = getField(fields, "In-Reply-To")
	e.MessageID, _ = getField(fields, "Message-ID")
	// RFC 3501 7.4.2: absent or empty Sender and Reply-To take From.
	if len(e.Sender) == 0 {
		e.Sender = e.From
	}
	if len(e.ReplyTo) == 0 {
		e.ReplyTo = e.From
	}
	return e
}

// sentDate parses the Date header, returning the zero time if it is
// absent or unreadable.
func sentDate(fields []headerField) time.Time {
	v, ok := getField(fields, "Date")
	if !ok {
		return time.Time{}
	}
	t, err := mail.ParseDate(v)
	if err != nil {
		// Some mailers append a zone name in parentheses, or more junk.
		if i := strings.IndexByte(v, '('); i > 0 {
			t, err = mail.ParseDate(strings.TrimSpace(v[:i]))
		}
		if err != nil {
			return time.Time{}
		}
	}
	return t
}

// normalizeLineEndings returns raw with every bare LF turned into CRLF, so
// that the stored message is exactly what IMAP serves and RFC822.SIZE
// counts (RFC 3501 2.3.4 counts CRLF line endings).
func normalizeLineEndings(raw []byte) []byte {
	lf := bytes.Count(raw, []byte("\n"))
	if lf == 0 || lf == bytes.Count(raw, []byte("\r\n")) {
		return raw
	}
	out := make([]byte, 0, len(raw)+lf)
	for i, c := range raw {
		if c == '\n' && (i == 0 || raw[i-1] != '\r') {
			out = append(out, '\r')
		}
		out = append(out, c)
	}
	return out
}
