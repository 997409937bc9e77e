package imapd

import (
	"bytes"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"

	"github.com/cabalmail/cabalmail/internal/mailbox"
)

func TestMatchMailboxPattern(t *testing.T) {
	tests := []struct {
		name, pattern string
		want          bool
	}{
		{"INBOX", "*", true},
		{"INBOX", "%", true},
		{"a/b", "%", false},
		{"a/b", "*", true},
		{"a/b", "a/%", true},
		{"a/b/c", "a/%", false},
		{"a/b/c", "a/*", true},
		{"a/b/c", "a/%/c", true},
		{"a/b/c", "%/%/%", true},
		{"Sent", "S%t", true},
		{"Sent", "s%", false}, // case-sensitive outside INBOX
		{"abc", "abc", true},
		{"abc", "ab", false},
		{"abc", "", false},
		{"", "", true},
		{"a", "*%*%*%*%*%*%*%*%*%*%*%*%*%*%*%*%*%*%b", false},
		{strings.Repeat("a", 200), strings.Repeat("*a", 100) + "%", true},
	}
	for _, tt := range tests {
		if got := matchMailboxPattern(tt.name, tt.pattern); got != tt.want {
			t.Errorf("match(%q, %q) = %v, want %v", tt.name, tt.pattern, got, tt.want)
		}
	}
}

func TestCanonicalName(t *testing.T) {
	for in, want := range map[string]string{
		"inbox": "INBOX", "InBoX/sub": "INBOX/sub", "INBOXES": "INBOXES", "Sent": "Sent", "inbox*": "inbox*",
	} {
		if got := canonicalName(in); got != want {
			t.Errorf("canonicalName(%q) = %q, want %q", in, got, want)
		}
	}
}

// testMessage is a multipart/mixed message with a text part and an
// encapsulated message/rfc822 holding a multipart/alternative.
const testMessage = "From: a@example.test\r\n" +
	"Subject: outer\r\n" +
	"Content-Type: multipart/mixed; boundary=X\r\n" +
	"\r\n" +
	"preamble\r\n" +
	"--X\r\n" +
	"Content-Type: text/plain\r\n" +
	"\r\n" +
	"part one\r\n" +
	"--X\r\n" +
	"Content-Type: message/rfc822\r\n" +
	"\r\n" +
	"Subject: inner\r\n" +
	"X-Long: folded\r\n" +
	" continuation\r\n" +
	"Content-Type: multipart/alternative; boundary=Y\r\n" +
	"\r\n" +
	"--Y\r\n" +
	"Content-Type: text/plain\r\n" +
	"\r\n" +
	"inner plain\r\n" +
	"--Y\r\n" +
	"Content-Type: text/html\r\n" +
	"\r\n" +
	"<p>inner html</p>\r\n" +
	"--Y--\r\n" +
	"--X--\r\n"

// testStructure describes testMessage with offsets found by searching it,
// as the mailbox store records them.
func testStructure(t *testing.T) *mailbox.Part {
	t.Helper()
	m := testMessage
	at := func(s string, from int) int64 {
		i := strings.Index(m[from:], s)
		if i < 0 {
			t.Fatalf("%q not in message", s)
		}
		return int64(from + i)
	}
	p1h := at("Content-Type: text/plain", 0)
	p1b := at("part one", 0)
	p1e := p1b + int64(len("part one"))
	p2h := at("Content-Type: message/rfc822", 0)
	p2b := at("Subject: inner", 0)
	p2e := at("\r\n--X--", 0)
	ib := at("--Y", int(p2b))
	a1h := at("Content-Type: text/plain", int(ib))
	a1b := at("inner plain", 0)
	a2h := at("Content-Type: text/html", 0)
	a2b := at("<p>", 0)
	return &mailbox.Part{
		Type: "multipart", Subtype: "mixed", HeaderStart: 0, BodyStart: at("preamble", 0), End: int64(len(m)),
		Parts: []*mailbox.Part{
			{Type: "text", Subtype: "plain", HeaderStart: p1h, BodyStart: p1b, End: p1e},
			{Type: "message", Subtype: "rfc822", HeaderStart: p2h, BodyStart: p2b, End: p2e,
				Message: &mailbox.Part{
					Type: "multipart", Subtype: "alternative", HeaderStart: p2b, BodyStart: ib, End: p2e,
					Parts: []*mailbox.Part{
						{Type: "text", Subtype: "plain", HeaderStart: a1h, BodyStart: a1b, End: a1b + int64(len("inner plain"))},
						{Type: "text", Subtype: "html", HeaderStart: a2h, BodyStart: a2b, End: a2b + int64(len("<p>inner html</p>"))},
					},
				}},
		},
	}
}

func TestResolveSection(t *testing.T) {
	root := testStructure(t)
	raw := []byte(testMessage)
	tests := []struct {
		sec  imap.FetchItemBodySection
		want string
		ok   bool
	}{
		{imap.FetchItemBodySection{}, testMessage, true},
		{imap.FetchItemBodySection{Specifier: imap.PartSpecifierHeader}, "From: a@example.test\r\nSubject: outer\r\nContent-Type: multipart/mixed; boundary=X\r\n\r\n", true},
		{imap.FetchItemBodySection{Part: []int{1}}, "part one", true},
		{imap.FetchItemBodySection{Part: []int{1}, Specifier: imap.PartSpecifierMIME}, "Content-Type: text/plain\r\n\r\n", true},
		{imap.FetchItemBodySection{Part: []int{2, 1}}, "inner plain", true},
		{imap.FetchItemBodySection{Part: []int{2, 2}}, "<p>inner html</p>", true},
		{imap.FetchItemBodySection{Part: []int{2, 2}, Specifier: imap.PartSpecifierMIME}, "Content-Type: text/html\r\n\r\n", true},
		{imap.FetchItemBodySection{Part: []int{2}, Specifier: imap.PartSpecifierHeader}, "Subject: inner\r\nX-Long: folded\r\n continuation\r\nContent-Type: multipart/alternative; boundary=Y\r\n\r\n", true},
		{imap.FetchItemBodySection{Part: []int{2}, Specifier: imap.PartSpecifierHeader, HeaderFields: []string{"x-long"}}, "X-Long: folded\r\n continuation\r\n\r\n", true},
		{imap.FetchItemBodySection{Part: []int{2}, Specifier: imap.PartSpecifierHeader, HeaderFieldsNot: []string{"X-LONG", "content-type"}}, "Subject: inner\r\n\r\n", true},
		{imap.FetchItemBodySection{Specifier: imap.PartSpecifierHeader, HeaderFields: []string{"Subject", "Nope"}}, "Subject: outer\r\n\r\n", true},
		{imap.FetchItemBodySection{Part: []int{1}, Specifier: imap.PartSpecifierHeader}, "", false}, // not a message/rfc822
		{imap.FetchItemBodySection{Part: []int{3}}, "", false},
		{imap.FetchItemBodySection{Part: []int{2, 3}}, "", false},
		{imap.FetchItemBodySection{Part: []int{1}, Partial: &imap.SectionPartial{Offset: 5, Size: 100}}, "one", true},
		{imap.FetchItemBodySection{Part: []int{1}, Partial: &imap.SectionPartial{Offset: 0, Size: 4}}, "part", true},
		{imap.FetchItemBodySection{Part: []int{1}, Partial: &imap.SectionPartial{Offset: 50, Size: 4}}, "", true},
	}
	for _, tt := range tests {
		r, ok := resolveSection(root, &tt.sec)
		if ok != tt.ok {
			t.Errorf("section %+v: ok = %v, want %v", tt.sec, ok, tt.ok)
			continue
		}
		if !ok {
			continue
		}
		var got []byte
		if r.fields != nil {
			got = applyPartial(filterHeader(raw[r.start:r.end], r.fields, r.not), tt.sec.Partial)
		} else {
			s, e := partialRange(r.start, r.end, tt.sec.Partial)
			got = raw[s:e]
		}
		if string(got) != tt.want {
			t.Errorf("section %+v = %q, want %q", tt.sec, got, tt.want)
		}
	}
}

func TestSinglePartSectionOne(t *testing.T) {
	// RFC 3501 6.4.5: part 1 of a non-multipart message is its body.
	msg := "Subject: s\r\n\r\nbody\r\n"
	root := &mailbox.Part{Type: "text", Subtype: "plain", BodyStart: 14, End: int64(len(msg))}
	r, ok := resolveSection(root, &imap.FetchItemBodySection{Part: []int{1}})
	if !ok || msg[r.start:r.end] != "body\r\n" {
		t.Fatalf("BODY[1] = %q, %v", msg[r.start:r.end], ok)
	}
	if _, ok := resolveSection(root, &imap.FetchItemBodySection{Part: []int{2}}); ok {
		t.Fatal("BODY[2] of a single-part message exists")
	}
}

func TestDecodeTransfer(t *testing.T) {
	tests := []struct{ in, enc, want string }{
		{"aGVsbG8gd29ybGQ=\r\n", "base64", "hello world"},
		{"aGVs\r\nbG8=\r\n", "BASE64", "hello"},
		{"aGVsbG8", "base64", "hello"},
		{"caf=C3=A9 =\r\nnext", "quoted-printable", "café next"},
		{"plain", "7bit", "plain"},
		{"plain", "", "plain"},
	}
	for _, tt := range tests {
		got, ok := decodeTransfer([]byte(tt.in), tt.enc)
		if !ok || string(got) != tt.want {
			t.Errorf("decode(%q, %s) = %q, %v; want %q", tt.in, tt.enc, got, ok, tt.want)
		}
	}
	if _, ok := decodeTransfer([]byte("x"), "x-uuencode"); ok {
		t.Error("unknown encoding accepted")
	}
}

func TestFlagsRoundTrip(t *testing.T) {
	f, err := flagsFromIMAP([]imap.Flag{`\Seen`, `\deleted`, `\Recent`, "$Label1"})
	if err != nil {
		t.Fatal(err)
	}
	if f.System != mailbox.FlagSeen|mailbox.FlagDeleted || len(f.Keywords) != 1 || f.Keywords[0] != "$Label1" {
		t.Fatalf("flags = %+v", f)
	}
	got := flagsToIMAP(f)
	want := []imap.Flag{imap.FlagSeen, imap.FlagDeleted, "$Label1"}
	if len(got) != len(want) {
		t.Fatalf("flags = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("flags = %v, want %v", got, want)
		}
	}
	if _, err := flagsFromIMAP([]imap.Flag{`\Bogus`}); err == nil {
		t.Fatal(`\Bogus accepted`)
	}
}

func FuzzParseHeaderFields(f *testing.F) {
	f.Add([]byte("A: 1\r\nB: 2\r\n continued\r\n\r\nbody"))
	f.Add([]byte("no colon\r\n\tcont\r\nX:y\n\n"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, h []byte) {
		fields := parseHeaderFields(h)
		// The fields are contiguous, in order, and come from the input.
		var joined []byte
		for _, fl := range fields {
			if !bytes.HasPrefix(fl.raw, []byte(fl.name+":")) {
				t.Fatalf("field %q does not start with its name %q", fl.raw, fl.name)
			}
			joined = append(joined, fl.raw...)
		}
		if !bytes.Contains(h, joined) {
			t.Fatalf("fields %q are not a run of the input", joined)
		}
		filterHeader(h, []string{"a", "b"}, false)
		filterHeader(h, []string{"a"}, true)
	})
}
