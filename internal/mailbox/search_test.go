package mailbox

import (
	"bytes"
	"reflect"
	"testing"
	"unicode/utf8"
)

func TestSearch(t *testing.T) {
	e := newEnv(t, nil)
	ctx := testCtx(t)
	alice := e.user(t, "alice")
	msgs := []string{
		// 1: encoded-word subject, QP body in UTF-8
		"From: =?utf-8?q?J=C3=B6rg?= <jorg@example.com>\r\nSubject: =?utf-8?b?R3LDvMOfZSBhdXMgS8O2bG4=?=\r\n" +
			"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nSch=C3=B6ne Gr=C3=BC=C3=9Fe, Caf=\r\n=C3=A9 tomorrow\r\n",
		// 2: base64 body in latin-1, a custom header
		"From: bob@example.org\r\nSubject: Invoice 42\r\nX-Ticket: ABC-123\r\nContent-Type: text/plain; charset=iso-8859-1\r\n" +
			"Content-Transfer-Encoding: base64\r\n\r\n" + "UGF5IHRoZSBmYWN0dXJlIGJlZm9yZSBs4CBkYXRl\r\n",
		// 3: multipart with an attached message; the term is in the inner header and an html part
		"From: carol@example.net\r\nSubject: fwd\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n" +
			"Content-Type: text/html\r\n\r\n<p>NEEDLE in html</p>\r\n--x\r\nContent-Type: message/rfc822\r\n\r\n" +
			"Subject: inner secret\r\n\r\ninner body\r\n--x\r\nContent-Type: application/octet-stream\r\n\r\nbinaryneedle2\r\n--x--\r\n",
		// 4: no subject at all, an empty To
		"From: dave@example.com\r\nTo:\r\n\r\nplain body mentioning invoice\r\n",
	}
	for _, m := range msgs {
		e.append(t, alice, "INBOX", m, Flags{})
	}
	v := e.selectBox(t, alice, "INBOX")
	all := v.UIDs()
	for _, c := range []struct {
		kind, field, term string
		want              []uint32
	}{
		{"header", "Subject", "grüße AUS", []uint32{1}},
		{"header", "subject", "invoice", []uint32{2}},
		{"header", "FROM", "jörg", []uint32{1}},
		{"header", "from", "EXAMPLE.", []uint32{1, 2, 3, 4}},
		{"header", "Subject", "", []uint32{1, 2, 3}}, // has the field
		{"header", "To", "", []uint32{4}},
		{"header", "X-Ticket", "abc-1", []uint32{2}},
		{"header", "X-Ticket", "", []uint32{2}},
		{"header", "X-None", "", nil},
		{"header", "Subject", "inner", nil}, // not the attached message's
		{"body", "", "schöne grüße", []uint32{1}},
		{"body", "", "café", []uint32{1}}, // soft line break decoded
		{"body", "", "là", []uint32{2}},   // latin-1 decoded
		{"body", "", "needle IN", []uint32{3}},
		{"body", "", "inner secret", []uint32{3}}, // attached message header is body
		{"body", "", "binaryneedle2", nil},        // not text
		{"body", "", "invoice", []uint32{4}},
		{"body", "", "Invoice 42", nil}, // header only
		{"text", "", "Invoice 42", []uint32{2}},
		{"text", "", "invoice", []uint32{2, 4}},
		{"text", "", "Jörg", []uint32{1}},
	} {
		var got []uint32
		var err error
		switch c.kind {
		case "header":
			got, err = v.SearchHeader(ctx, all, c.field, c.term)
		case "body":
			got, err = v.SearchBody(ctx, all, c.term)
		case "text":
			got, err = v.SearchText(ctx, all, c.term)
		}
		if err != nil {
			t.Errorf("%s %s %q: %v", c.kind, c.field, c.term, err)
			continue
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s %s %q = %v, want %v", c.kind, c.field, c.term, got, c.want)
		}
	}
	// Only the UIDs asked about are searched, and the cache follows new
	// messages.
	if got, _ := v.SearchHeader(ctx, []uint32{2, 3}, "from", "example"); !reflect.DeepEqual(got, []uint32{2, 3}) {
		t.Errorf("subset search: %v", got)
	}
	e.append(t, alice, "INBOX", "Subject: Invoice 43\r\n\r\nx\r\n", Flags{})
	if _, err := v.Sync(ctx, true); err != nil {
		t.Fatal(err)
	}
	if got, _ := v.SearchHeader(ctx, v.UIDs(), "subject", "invoice 4"); !reflect.DeepEqual(got, []uint32{2, 5}) {
		t.Errorf("after a new message: %v", got)
	}
}

func TestFoldContains(t *testing.T) {
	for _, c := range []struct {
		text, term string
		want       bool
	}{
		{"Hello World", "world", true},
		{"Hello World", "worlds", false},
		{"", "", true},
		{"abc", "", true},
		{"WWWorld", "wworld", true},
		{"ÄRGER", "ärger", true},
		{"x\xffy", "y", true},
		{"aaa", "aaaa", false},
	} {
		if got := bytes.Contains(foldInto(nil, []byte(c.text)), []byte(c.term)); got != c.want {
			t.Errorf("%q folded contains %q = %v", c.text, c.term, got)
		}
	}
}

func TestDecodeTransferEncodings(t *testing.T) {
	for _, c := range []struct{ enc, in, want string }{
		{"quoted-printable", "caf=C3=A9 =\r\nsoft=3D=\nbreak =ZZ end=", "café soft=break =ZZ end="},
		{"quoted-printable", "=e9t=E9", "\xe9t\xe9"},
		{"base64", "SGVs\r\nbG8g d29y bGQ=\r\n", "Hello world"},
		{"base64", "SGVsbG8", "Hello"},
		{"base64", "SGk=junk", "Hi"},
		{"base64", "!!", ""},
		{"7bit", "as is=41", "as is=41"},
	} {
		p := &Part{Type: "text", Subtype: "plain", Encoding: c.enc, BodyStart: 0, End: int64(len(c.in))}
		if got := string(decodedText(nil, []byte(c.in), p)); got != c.want {
			t.Errorf("%s %q = %q, want %q", c.enc, c.in, got, c.want)
		}
	}
	p := &Part{Type: "text", Subtype: "plain", Params: map[string]string{"charset": "ISO-8859-1"}, Encoding: "quoted-printable", End: 7}
	if got := string(decodedText([]byte("x"), []byte("=E0 b=\n"), p)); got != "xà b" {
		t.Errorf("latin-1 = %q", got)
	}
}

// FuzzSearchText runs the body-search decoding over arbitrary messages:
// it must never panic, and the prefilter must let through every term the
// search would find (a substring of the searched texts).
func FuzzSearchText(f *testing.F) {
	f.Add([]byte("Content-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n=E0=\r\n=ZZ="), uint16(3), uint8(4))
	f.Add([]byte("Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Transfer-Encoding: base64\r\n\r\nSGk=\r\n--b\r\nContent-Type: message/rfc822\r\n\r\nSubject: =?utf-8?q?x?=\r\n\r\nx\r\n--b--"), uint16(40), uint8(9))
	f.Add([]byte("Subject: =?bogus?b?!!!?=\r\n\r\n"), uint16(0), uint8(0))
	f.Fuzz(func(t *testing.T, raw []byte, at uint16, n uint8) {
		_, root := Parse(raw)
		texts := searchTexts(raw, root)
		filter := buildFilter(texts)
		all := bytes.Join(texts, nil)
		for _, text := range texts {
			if len(text) == 0 {
				continue
			}
			i := int(at) % len(text)
			j := min(len(text), i+int(n))
			term := string(text[i:j])
			if !newFilterProbe(term).mayContain(filter) {
				t.Fatalf("filter rejects %q, a substring of the text", term)
			}
		}
		if folded := foldInto(nil, all); !bytes.Equal(folded, foldInto(nil, folded)) && utf8.Valid(all) {
			t.Fatalf("folding is not idempotent on %q", all)
		}
	})
}

func TestFilter(t *testing.T) {
	texts := [][]byte{[]byte("the quick brown fox"), []byte("jumps over the lazy dog")}
	f := buildFilter(texts)
	for _, term := range []string{"quick", "lazy dog", "ck b", "x", "", "fox"} {
		if !newFilterProbe(term).mayContain(f) {
			t.Errorf("filter rejects %q", term)
		}
	}
	rejected := 0
	for _, term := range []string{"zebra", "quiet", "marmalade", "parrot", "xylophone", "kangaroo"} {
		if !newFilterProbe(term).mayContain(f) {
			rejected++
		}
	}
	if rejected < 4 {
		t.Errorf("filter rejects only %d of 6 absent terms", rejected)
	}
	if !newFilterProbe("anything").mayContain(nil) {
		t.Error("a missing filter must pass")
	}
}
