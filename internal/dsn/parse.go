package dsn

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"strings"
)

// Status is a parsed message/delivery-status body (RFC 3464 2.1): the
// per-message fields and one field set per recipient. Field names are in
// canonical form (textproto), values unfolded and trimmed.
type Status struct {
	Message    map[string]string
	Recipients []map[string]string
}

// maxParse bounds what Parse reads of a message.
const maxParse = 1 << 20

// Parse reads a DSN message: it checks it is a multipart/report of
// report-type delivery-status and returns its delivery-status fields and
// the returned original header.
func Parse(r io.Reader) (Status, []byte, error) {
	msg, err := mail.ReadMessage(bufio.NewReader(io.LimitReader(r, maxParse)))
	if err != nil {
		return Status{}, nil, fmt.Errorf("dsn: parse: %w", err)
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil {
		return Status{}, nil, fmt.Errorf("dsn: parse: content type: %w", err)
	}
	if mt != "multipart/report" || !strings.EqualFold(params["report-type"], "delivery-status") {
		return Status{}, nil, fmt.Errorf("dsn: parse: not a delivery status report (%s)", mt)
	}
	if params["boundary"] == "" {
		return Status{}, nil, errors.New("dsn: parse: no boundary")
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	var st Status
	var hdr []byte
	found := false
	for {
		p, err := mr.NextRawPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return Status{}, nil, fmt.Errorf("dsn: parse: %w", err)
		}
		body, err := io.ReadAll(p)
		if err != nil {
			return Status{}, nil, fmt.Errorf("dsn: parse: %w", err)
		}
		ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		switch ct {
		case "message/delivery-status", "message/global-delivery-status":
			if st, err = ParseStatus(body); err != nil {
				return Status{}, nil, err
			}
			found = true
		case "text/rfc822-headers", "message/rfc822":
			hdr = body
		}
	}
	if !found {
		return Status{}, nil, errors.New("dsn: parse: no message/delivery-status part")
	}
	return st, hdr, nil
}

// ParseStatus reads the body of a message/delivery-status part: groups of
// header-style fields separated by blank lines, the first per message, the
// others per recipient (RFC 3464 2.1).
func ParseStatus(body []byte) (Status, error) {
	body = bytes.ReplaceAll(body, []byte("\r\n"), []byte("\n"))
	var groups []map[string]string
	cur := map[string]string{}
	last := ""
	flush := func() {
		if len(cur) > 0 {
			groups = append(groups, cur)
		}
		cur, last = map[string]string{}, ""
	}
	for _, line := range strings.Split(string(body), "\n") {
		switch {
		case strings.TrimSpace(line) == "":
			flush()
		case line[0] == ' ' || line[0] == '\t':
			if last == "" {
				return Status{}, fmt.Errorf("dsn: parse status: continuation line without a field: %q", line)
			}
			cur[last] += " " + strings.TrimSpace(line)
		default:
			name, value, ok := strings.Cut(line, ":")
			if !ok || !fieldName(name) {
				return Status{}, fmt.Errorf("dsn: parse status: bad field line %q", line)
			}
			last = canonical(name)
			cur[last] = strings.TrimSpace(value)
		}
	}
	flush()
	if len(groups) == 0 {
		return Status{}, errors.New("dsn: parse status: empty")
	}
	return Status{Message: groups[0], Recipients: groups[1:]}, nil
}

// fieldName reports whether name is a header field name: printable
// US-ASCII other than the colon (RFC 5322 2.2, ftext), as RFC 3464 2.1
// takes its fields from RFC 822.
func fieldName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; c < 33 || c > 126 {
			return false
		}
	}
	return true
}

// canonical writes a field name as textproto would: Final-Recipient.
func canonical(name string) string {
	parts := strings.Split(strings.ToLower(name), "-")
	for i, p := range parts {
		if p != "" {
			parts[i] = strings.ToUpper(p[:1]) + p[1:]
		}
	}
	return strings.Join(parts, "-")
}
