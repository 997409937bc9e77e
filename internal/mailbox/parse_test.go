package mailbox

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// crlf turns the LF line endings of a test literal into CRLF.
func crlf(s string) string { return strings.ReplaceAll(s, "\n", "\r\n") }

// at returns the offset of the n-th (from 0) occurrence of marker in raw.
func at(t *testing.T, raw, marker string, n int) int64 {
	t.Helper()
	off := 0
	for i := 0; ; i++ {
		j := strings.Index(raw[off:], marker)
		if j < 0 {
			t.Fatalf("marker %q #%d not in message", marker, n)
		}
		if i == n {
			return int64(off + j)
		}
		off += j + len(marker)
	}
}

func plainParams() map[string]string { return map[string]string{"charset": "us-ascii"} }

func TestParseSimple(t *testing.T) {
	raw := crlf(`From: "Doe, John" <john@example.com>
To: alice@example.org, =?utf-8?q?B=C3=B6b?= <bob@example.org>
Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=
  and more
Date: Mon, 2 Jan 2006 15:04:05 -0700
Message-ID: <1@example.com>

Hello
world
`)
	env, p := Parse([]byte(raw))
	wantEnv := &Envelope{
		Date:    "Mon, 2 Jan 2006 15:04:05 -0700",
		Subject: "=?utf-8?q?Gr=C3=BC=C3=9Fe?=  and more",
		From:    []Address{{Name: "Doe, John", Mailbox: "john", Host: "example.com"}},
		Sender:  []Address{{Name: "Doe, John", Mailbox: "john", Host: "example.com"}},
		ReplyTo: []Address{{Name: "Doe, John", Mailbox: "john", Host: "example.com"}},
		To: []Address{{Mailbox: "alice", Host: "example.org"},
			{Name: "=?utf-8?q?B=C3=B6b?=", Mailbox: "bob", Host: "example.org"}},
		MessageID: "<1@example.com>",
	}
	if !reflect.DeepEqual(env, wantEnv) {
		t.Errorf("envelope\n got %+v\nwant %+v", env, wantEnv)
	}
	body := at(t, raw, "Hello", 0)
	want := &Part{Type: "text", Subtype: "plain", Params: plainParams(), Size: int64(len(raw)) - body, Lines: 2,
		HeaderStart: 0, BodyStart: body, End: int64(len(raw))}
	checkPart(t, p, want)
}

func checkPart(t *testing.T, got, want *Part) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		g, _ := json.MarshalIndent(got, "", " ")
		w, _ := json.MarshalIndent(want, "", " ")
		t.Errorf("structure\n got %s\nwant %s", g, w)
	}
}

const nestedMessage = `From: a@example.com
To: b@example.com
Subject: nested
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="outer"

preamble
--outer
Content-Type: multipart/alternative; boundary=inner

--inner
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: quoted-printable

caf=C3=A9
--inner
Content-Type: text/html; charset="utf-8"

<p>caf&eacute;</p>
--inner--
--outer
Content-Type: message/rfc822
Content-Description: forwarded

From: c@example.com
Subject: inside
Content-Type: multipart/mixed; boundary=deep

--deep
Content-Type: text/plain

deep text
--deep
Content-Type: application/pdf; name="x.pdf"
Content-Transfer-Encoding: base64
Content-Disposition: attachment; filename="x.pdf"
Content-ID: <pdf@x>
Content-MD5: Q2hlY2sgSW50ZWdyaXR5IQ==
Content-Language: en, de
Content-Location: http://example.com/
 x.pdf

JVBERi0=
--deep--
--outer--
epilogue
`

func TestParseNested(t *testing.T) {
	raw := crlf(nestedMessage)
	_, p := Parse([]byte(raw))
	o := func(marker string, n int) int64 { return at(t, raw, marker, n) }
	// Offsets: a part's header starts after its delimiter line; its body
	// ends before the CRLF preceding the next delimiter.
	innerHdr := o("Content-Type: multipart/alternative", 0)
	innerBody := o("--inner", 0)
	innerEnd := o("--inner--", 0) + int64(len("--inner--"))
	textHdr := o("Content-Type: text/plain; charset=utf-8", 0)
	textBody := o("caf=C3=A9", 0)
	textEnd := textBody + int64(len("caf=C3=A9"))
	htmlHdr := o("Content-Type: text/html", 0)
	htmlBody := o("<p>", 0)
	htmlEnd := htmlBody + int64(len("<p>caf&eacute;</p>"))
	msgHdr := o("Content-Type: message/rfc822", 0)
	msgBody := o("From: c@example.com", 0)
	msgEnd := o("--deep--", 0) + int64(len("--deep--"))
	deepBody := o("--deep\r\n", 0)
	deepTextHdr := o("Content-Type: text/plain\r\n", 0)
	deepText := o("deep text", 0)
	pdfHdr := o("Content-Type: application/pdf", 0)
	pdfBody := o("JVBERi0=", 0)
	outerBody := o("preamble", 0)
	want := &Part{
		Type: "multipart", Subtype: "mixed", Params: map[string]string{"boundary": "outer"},
		Size: int64(len(raw)) - outerBody, HeaderStart: 0, BodyStart: outerBody, End: int64(len(raw)),
		Parts: []*Part{
			{
				Type: "multipart", Subtype: "alternative", Params: map[string]string{"boundary": "inner"},
				HeaderStart: innerHdr, BodyStart: innerBody, End: innerEnd, Size: innerEnd - innerBody,
				Parts: []*Part{
					{Type: "text", Subtype: "plain", Params: map[string]string{"charset": "utf-8"}, Encoding: "quoted-printable",
						HeaderStart: textHdr, BodyStart: textBody, End: textEnd, Size: textEnd - textBody, Lines: 1},
					{Type: "text", Subtype: "html", Params: map[string]string{"charset": "utf-8"},
						HeaderStart: htmlHdr, BodyStart: htmlBody, End: htmlEnd, Size: htmlEnd - htmlBody, Lines: 1},
				},
			},
			{
				Type: "message", Subtype: "rfc822", Description: "forwarded",
				HeaderStart: msgHdr, BodyStart: msgBody, End: msgEnd, Size: msgEnd - msgBody, Lines: 20,
				Envelope: &Envelope{Subject: "inside",
					From:    []Address{{Mailbox: "c", Host: "example.com"}},
					Sender:  []Address{{Mailbox: "c", Host: "example.com"}},
					ReplyTo: []Address{{Mailbox: "c", Host: "example.com"}}},
				Message: &Part{
					Type: "multipart", Subtype: "mixed", Params: map[string]string{"boundary": "deep"},
					HeaderStart: msgBody, BodyStart: deepBody, End: msgEnd, Size: msgEnd - deepBody,
					Parts: []*Part{
						{Type: "text", Subtype: "plain", Params: nil,
							HeaderStart: deepTextHdr, BodyStart: deepText, End: deepText + 9, Size: 9, Lines: 1},
						{Type: "application", Subtype: "pdf", Params: map[string]string{"name": "x.pdf"},
							Encoding: "base64", ID: "<pdf@x>", MD5: "Q2hlY2sgSW50ZWdyaXR5IQ==",
							Disposition: "attachment", DispositionParams: map[string]string{"filename": "x.pdf"},
							Language: []string{"en", "de"}, Location: "http://example.com/x.pdf",
							HeaderStart: pdfHdr, BodyStart: pdfBody, End: pdfBody + 8, Size: 8},
					},
				},
			},
		},
	}
	checkPart(t, p, want)

	// Section numbering (RFC 3501 6.4.5).
	for _, c := range []struct {
		path []int
		want *Part
	}{
		{nil, p},
		{[]int{1}, want.Parts[0]},
		{[]int{1, 2}, want.Parts[0].Parts[1]},
		{[]int{2}, want.Parts[1]},
		{[]int{2, 1}, want.Parts[1].Message.Parts[0]},
		{[]int{2, 2}, want.Parts[1].Message.Parts[1]},
	} {
		got, err := p.Section(c.path)
		if err != nil {
			t.Errorf("section %v: %v", c.path, err)
			continue
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("section %v: got part at %d, want %d", c.path, got.HeaderStart, c.want.HeaderStart)
		}
	}
	for _, bad := range [][]int{{3}, {0}, {1, 3}, {1, 1, 1}, {2, 3}} {
		if _, err := p.Section(bad); err == nil {
			t.Errorf("section %v: no error", bad)
		}
	}
	// The byte ranges are what IMAP serves.
	if got := raw[want.Parts[0].Parts[0].BodyStart:want.Parts[0].Parts[0].End]; got != "caf=C3=A9" {
		t.Errorf("BODY[1.1] = %q", got)
	}
	if got := raw[want.Parts[1].HeaderStart:want.Parts[1].BodyStart]; got != "Content-Type: message/rfc822\r\nContent-Description: forwarded\r\n\r\n" {
		t.Errorf("BODY[2.MIME] = %q", got)
	}
	m := want.Parts[1].Message
	if got := raw[m.HeaderStart:m.BodyStart]; !strings.HasPrefix(got, "From: c@example.com\r\n") || !strings.HasSuffix(got, "deep\r\n\r\n") {
		t.Errorf("BODY[2.HEADER] = %q", got)
	}
}

func TestParseOdd(t *testing.T) {
	plain := func(raw string, bodyMarker string) *Part {
		body := int64(len(raw))
		if bodyMarker != "" {
			body = int64(strings.Index(raw, bodyMarker))
		}
		return &Part{Type: "text", Subtype: "plain", Params: plainParams(), HeaderStart: 0, BodyStart: body,
			End: int64(len(raw)), Size: int64(len(raw)) - body, Lines: countLines([]byte(raw[body:]))}
	}
	for _, c := range []struct {
		name string
		raw  string
		want func(raw string) *Part
	}{
		{"empty", "", func(raw string) *Part { return plain(raw, "") }},
		{"header only, no blank line", "Subject: x\r\n", func(raw string) *Part { return plain(raw, "") }},
		{"body only", "\r\nhello", func(raw string) *Part { return plain(raw, "hello") }},
		{"LF line endings", "Subject: x\n\nbody\n", func(raw string) *Part { return plain(raw, "body") }},
		{"multipart without boundary", crlf("Content-Type: multipart/mixed\n\nstuff\n"),
			func(raw string) *Part { return plain(raw, "stuff") }},
		{"multipart whose boundary never occurs", crlf("Content-Type: multipart/mixed; boundary=zz\n\n--z\nstuff\n"),
			func(raw string) *Part { return plain(raw, "--z") }},
		{"invalid content type", crlf("Content-Type: text\n\nBODY"), func(raw string) *Part { return plain(raw, "BODY") }},
		{"garbage header line", crlf("garbage line\nContent-Type: text/html\n\nBODY"), func(raw string) *Part {
			p := plain(raw, "BODY")
			p.Subtype, p.Params = "html", nil
			return p
		}},
		{"missing close delimiter and empty part", crlf("Content-Type: multipart/mixed; boundary=b\n\n--b\n--b\nContent-Type: text/plain\n\nlast\n"),
			func(raw string) *Part {
				first := int64(strings.Index(raw, "--b\r\n") + 5)
				second := int64(strings.LastIndex(raw, "--b\r\n") + 5)
				lastBody := int64(strings.Index(raw, "last"))
				return &Part{Type: "multipart", Subtype: "mixed", Params: map[string]string{"boundary": "b"},
					HeaderStart: 0, BodyStart: first - 5, End: int64(len(raw)), Size: int64(len(raw)) - first + 5,
					Parts: []*Part{
						{Type: "text", Subtype: "plain", Params: plainParams(), HeaderStart: first, BodyStart: first, End: first},
						{Type: "text", Subtype: "plain", HeaderStart: second, BodyStart: lastBody, End: int64(len(raw)),
							Size: int64(len(raw)) - lastBody, Lines: 1},
					}}
			}},
		{"digest defaults to message/rfc822", crlf("Content-Type: multipart/digest; boundary=d\n\n--d\n\nSubject: in\n\nhi\n--d--\n"),
			func(raw string) *Part {
				partHdr := int64(strings.Index(raw, "--d\r\n") + 5)
				inner := partHdr + 2
				innerBody := int64(strings.Index(raw, "hi"))
				return &Part{Type: "multipart", Subtype: "digest", Params: map[string]string{"boundary": "d"},
					HeaderStart: 0, BodyStart: partHdr - 5, End: int64(len(raw)), Size: int64(len(raw)) - partHdr + 5,
					Parts: []*Part{{Type: "message", Subtype: "rfc822", HeaderStart: partHdr, BodyStart: inner, End: innerBody + 2,
						Size: innerBody + 2 - inner, Lines: 3, Envelope: &Envelope{Subject: "in"},
						Message: &Part{Type: "text", Subtype: "plain", Params: plainParams(), HeaderStart: inner, BodyStart: innerBody,
							End: innerBody + 2, Size: 2, Lines: 1}}}}
			}},
		{"base64 message/rfc822 is not parsed", crlf("Content-Type: message/rfc822\nContent-Transfer-Encoding: base64\n\nU3ViamVjdDogeA==\n"),
			func(raw string) *Part {
				body := int64(strings.Index(raw, "U3"))
				end := int64(len(raw))
				return &Part{Type: "message", Subtype: "rfc822", Encoding: "base64", HeaderStart: 0, BodyStart: body, End: end,
					Size: end - body, Lines: 1, Envelope: &Envelope{},
					Message: &Part{Type: "text", Subtype: "plain", Params: plainParams(), HeaderStart: body, BodyStart: body, End: end,
						Size: end - body, Lines: 1}}
			}},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, p := Parse([]byte(c.raw))
			checkPart(t, p, c.want(c.raw))
			checkInvariants(t, []byte(c.raw), p)
		})
	}
}

func TestParseAddresses(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []Address
	}{
		{"", nil},
		{"a@b", []Address{{Mailbox: "a", Host: "b"}}},
		{"John Q. Public <jqp@x.example>", []Address{{Name: "John Q. Public", Mailbox: "jqp", Host: "x.example"}}},
		{`"A \"quoted\" name" <a@b>, c@d (Comment Name)`, []Address{
			{Name: `A "quoted" name`, Mailbox: "a", Host: "b"}, {Name: "Comment Name", Mailbox: "c", Host: "d"}}},
		{"Team: x@y, \"Z\" <z@y>; , last@y", []Address{
			{Mailbox: "Team"}, {Mailbox: "x", Host: "y"}, {Name: "Z", Mailbox: "z", Host: "y"}, {}, {Mailbox: "last", Host: "y"}}},
		{"undisclosed-recipients:;", []Address{{Mailbox: "undisclosed-recipients"}, {}}},
		{"root", []Address{{Mailbox: "root", Host: missingHost}}},
		{`"odd local"@x`, []Address{{Mailbox: `"odd local"`, Host: "x"}}},
		{"<@route1,@route2:a@b>", []Address{{Mailbox: "a", Host: "b"}}},
		{"a@[192.0.2.1]", []Address{{Mailbox: "a", Host: "[192.0.2.1]"}}},
		{"Name <>", []Address{{Name: "Name", Host: missingHost}}},
		{"<>, ,,", nil},
		{"broken <a@b", []Address{{Name: "broken", Mailbox: "a", Host: "b"}}},
		{"stray ) and ] <a@b>", []Address{{Name: "stray ) and ]", Mailbox: "a", Host: "b"}}},
	} {
		got := parseAddressList(c.in)
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("parseAddressList(%q)\n got %#v\nwant %#v", c.in, got, c.want)
		}
	}
}

func TestParseMediaType(t *testing.T) {
	for _, c := range []struct {
		in       string
		typ, sub string
		params   map[string]string
		ok       bool
	}{
		{"text/plain", "text", "plain", nil, true},
		{`Text/HTML ; Charset="UTF-8"; (comment) format=flowed`, "text", "html", map[string]string{"charset": "UTF-8", "format": "flowed"}, true},
		{`multipart/mixed; boundary="a;b\"c"; boundary=second`, "multipart", "mixed", map[string]string{"boundary": `a;b"c`}, true},
		{`application/x; filename*0*=utf-8''a%20b; filename*1=c`, "application", "x", map[string]string{"filename*0*": "utf-8''a%20b", "filename*1": "c"}, true},
		{"text", "", "", nil, false},
		{"text/", "", "", nil, false},
		{"te xt/plain", "", "", nil, false},
		{"text/plain; junk; =x; a=", "text", "plain", map[string]string{"a": ""}, true},
	} {
		typ, sub, params, ok := parseContentType(c.in)
		if typ != c.typ || sub != c.sub || !reflect.DeepEqual(params, c.params) || ok != c.ok {
			t.Errorf("parseContentType(%q) = %q %q %v %v, want %q %q %v %v", c.in, typ, sub, params, ok, c.typ, c.sub, c.params, c.ok)
		}
	}
}

func TestNormalizeLineEndings(t *testing.T) {
	for in, want := range map[string]string{
		"":              "",
		"a\r\nb\r\n":    "a\r\nb\r\n",
		"a\nb\n":        "a\r\nb\r\n",
		"a\r\nb\nc\r\r": "a\r\nb\r\nc\r\r",
		"\n":            "\r\n",
	} {
		if got := string(normalizeLineEndings([]byte(in))); got != want {
			t.Errorf("normalizeLineEndings(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestFilterHeader(t *testing.T) {
	hdr := []byte(crlf("From: a@b\nSubject: one\n two\nTo: c@d\nsubject: again\n\n"))
	if got, want := string(FilterHeader(hdr, []string{"SUBJECT"}, false)), crlf("Subject: one\n two\nsubject: again\n\n"); got != want {
		t.Errorf("HEADER.FIELDS = %q, want %q", got, want)
	}
	if got, want := string(FilterHeader(hdr, []string{"subject"}, true)), crlf("From: a@b\nTo: c@d\n\n"); got != want {
		t.Errorf("HEADER.FIELDS.NOT = %q, want %q", got, want)
	}
	if got, want := string(FilterHeader(hdr, []string{"x-none"}, false)), "\r\n"; got != want {
		t.Errorf("HEADER.FIELDS of absent field = %q, want %q", got, want)
	}
}

// checkInvariants checks what the IMAP server relies on: every range lies
// within the message and within its parent, sizes match the ranges, and the
// structure survives its serialized form.
func checkInvariants(t *testing.T, raw []byte, root *Part) {
	t.Helper()
	var walk func(p *Part, lo, hi int64, depth int)
	walk = func(p *Part, lo, hi int64, depth int) {
		if depth > 2*maxDepth+2 {
			t.Fatalf("structure deeper than the limit")
		}
		if !(lo <= p.HeaderStart && p.HeaderStart <= p.BodyStart && p.BodyStart <= p.End && p.End <= hi) {
			t.Fatalf("part %s/%s range %d %d %d outside [%d, %d]", p.Type, p.Subtype, p.HeaderStart, p.BodyStart, p.End, lo, hi)
		}
		if p.Size != p.End-p.BodyStart {
			t.Fatalf("part size %d, range %d", p.Size, p.End-p.BodyStart)
		}
		if p.Type == "" || p.Subtype == "" {
			t.Fatalf("part without a type")
		}
		if p.Type == "multipart" && len(p.Parts) == 0 {
			t.Fatalf("multipart without parts")
		}
		if (p.Message == nil) != (p.Envelope == nil) {
			t.Fatalf("message part with only one of envelope and message")
		}
		for _, c := range p.Parts {
			walk(c, p.BodyStart, p.End, depth+1)
		}
		if p.Message != nil {
			if p.Message.HeaderStart != p.BodyStart || p.Message.End != p.End {
				t.Fatalf("encapsulated message at [%d, %d], part body at [%d, %d]", p.Message.HeaderStart, p.Message.End, p.BodyStart, p.End)
			}
			walk(p.Message, p.BodyStart, p.End, depth+1)
		}
	}
	if root.HeaderStart != 0 || root.End != int64(len(raw)) {
		t.Fatalf("root range [%d, %d], message size %d", root.HeaderStart, root.End, len(raw))
	}
	walk(root, 0, int64(len(raw)), 0)
	b, err := json.Marshal(root)
	if err != nil {
		t.Fatal(err)
	}
	var back Part
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatalf("structure does not round-trip: %v", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(crlf(nestedMessage)))
	f.Add([]byte("Content-Type: multipart/mixed; boundary=a\r\n\r\n--a\r\nContent-Type: message/rfc822\r\n\r\nContent-Type: multipart/digest; boundary=b\r\n\r\n--b\r\n\r\nx\r\n--b--\r\n--a--\r\n"))
	f.Add([]byte("From: (a (b) c) x@y, g: ; \"q\\\" <@r:s@t>\r\nContent-Type: text/plain; a=\"\r\n\r\n"))
	f.Add([]byte("\n\n\r\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		env, p := Parse(raw)
		if env == nil {
			t.Fatal("nil envelope")
		}
		checkInvariants(t, raw, p)
		sr := searchFieldsOf(raw, p)
		if len(sr) != len(searchFields) {
			t.Fatalf("%d search fields", len(sr))
		}
	})
}
