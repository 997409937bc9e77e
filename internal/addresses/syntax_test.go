package addresses

import (
	"errors"
	"strings"
	"testing"
)

var testApexes = []string{"example.test", "mail.example.test", "other.test"}

func TestValidateLocal(t *testing.T) {
	tests := []struct {
		local string
		why   string // "" = valid; otherwise a fragment of the message
	}{
		{"shop", ""},
		{"a", ""},
		{"Amazon.Orders", ""},
		{"first.last", ""},
		{"x+tag", ""},
		{"!#$%&'*+-/=?^_`{|}~", ""},
		{"0123456789", ""},
		{strings.Repeat("a", 64), ""},
		{"", "is empty"},
		{strings.Repeat("a", 65), "65 octets long; at most 64"},
		{"x y", "contains whitespace"},
		{"x\ty", "contains whitespace"},
		{" x", "contains whitespace"},
		{"x\x00y", "control characters"},
		{"x\x7fy", "control characters"},
		{`"quoted"`, "quoted local parts are not accepted"},
		{"café", "non-ASCII"},
		{".x", "starts with a dot"},
		{"x.", "ends with a dot"},
		{"x..y", "two dots in a row"},
		{".", "starts with a dot"},
		{"x@y", `contains "@"`},
		{"x(comment)", `contains "("`},
		{"a,b", `contains ","`},
		{`a\b`, `contains "\\"`},
		{"a[b]", `contains "["`},
		{"a:b", `contains ":"`},
		{"a;b", `contains ";"`},
		{"a<b>", `contains "<"`},
	}
	for _, tt := range tests {
		err := ValidateLocal(tt.local)
		if tt.why == "" {
			if err != nil {
				t.Errorf("ValidateLocal(%q) = %v, want nil", tt.local, err)
			}
			continue
		}
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("ValidateLocal(%q) = %v, want ErrInvalid", tt.local, err)
			continue
		}
		if !strings.Contains(err.Error(), tt.why) || !strings.HasPrefix(err.Error(), "addresses: local part ") {
			t.Errorf("ValidateLocal(%q) = %q, want a message with %q", tt.local, err, tt.why)
		}
	}
}

func TestValidateLabel(t *testing.T) {
	tests := []struct {
		label string
		why   string
	}{
		{"x7k2", ""},
		{"shop", ""},
		{"Shop", ""},
		{"7eleven", ""}, // RFC 1123 2.1: digits first
		{"123", ""},
		{"a-b", ""},
		{"a--b", ""}, // hyphens in positions 2 and 3 are fine
		{"ab-c--d", ""},
		{"a", ""},
		{strings.Repeat("a", 63), ""},
		{"", "is empty"},
		{strings.Repeat("a", 64), "64 octets long; at most 63"},
		{"-ab", "starts with a hyphen"},
		{"ab-", "ends with a hyphen"},
		{"-", "starts with a hyphen"},
		{"xn--abc", "positions 3 and 4"},
		{"ab--", "ends with a hyphen"},
		{"ab--c", "positions 3 and 4"},
		{"a_b", `contains "_"`},
		{"_dmarc", `contains "_"`},
		{"a.b", `contains "."`},
		{"a b", "whitespace"},
		{"bücher", "non-ASCII"},
		{"a\x01", "control characters"},
		{"a*", `contains "*"`},
	}
	for _, tt := range tests {
		err := ValidateLabel(tt.label)
		if tt.why == "" {
			if err != nil {
				t.Errorf("ValidateLabel(%q) = %v, want nil", tt.label, err)
			}
			continue
		}
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("ValidateLabel(%q) = %v, want ErrInvalid", tt.label, err)
			continue
		}
		if !strings.Contains(err.Error(), tt.why) || !strings.HasPrefix(err.Error(), "addresses: label ") {
			t.Errorf("ValidateLabel(%q) = %q, want a message with %q", tt.label, err, tt.why)
		}
	}
}

func TestParse(t *testing.T) {
	long := func(n int) string { return strings.Repeat("a", n) }
	tests := []struct {
		addr string
		want Parsed
		kind error  // nil = accepted
		why  string // fragment of the error message
	}{
		{addr: "shop@x1.example.test", want: Parsed{"shop", "x1", "example.test"}},
		{addr: "Shop@X1.Example.TEST", want: Parsed{"shop", "x1", "example.test"}},
		{addr: "first.last+tag@sub.other.test", want: Parsed{"first.last+tag", "sub", "other.test"}},
		// Nested apexes: the one leaving exactly one label wins.
		{addr: "x@a.mail.example.test", want: Parsed{"x", "a", "mail.example.test"}},
		{addr: "x@mail2.example.test", want: Parsed{"x", "mail2", "example.test"}},
		{addr: long(64) + "@" + long(63) + ".example.test", want: Parsed{long(64), long(63), "example.test"}},

		{addr: "", kind: ErrInvalid, why: "address is empty"},
		{addr: " shop@x1.example.test", kind: ErrInvalid, why: "leading or trailing whitespace"},
		{addr: "shop@x1.example.test ", kind: ErrInvalid, why: "leading or trailing whitespace"},
		{addr: "shop@x1.example.test\n", kind: ErrInvalid, why: "leading or trailing whitespace"},
		{addr: "x y@a.example.test", kind: ErrInvalid, why: `"x y@a.example.test": local part contains whitespace`},
		{addr: "shop", kind: ErrInvalid, why: "has no @"},
		{addr: "a@b@c.example.test", kind: ErrInvalid, why: "more than one @"},
		{addr: `"a b"@c.example.test`, kind: ErrInvalid, why: "quoted local parts"},
		{addr: "@x1.example.test", kind: ErrInvalid, why: "local part is empty"},
		{addr: "shop@", kind: ErrInvalid, why: "has no domain"},
		{addr: ".shop@x1.example.test", kind: ErrInvalid, why: "starts with a dot"},
		{addr: "sh..op@x1.example.test", kind: ErrInvalid, why: "two dots in a row"},
		{addr: "shöp@x1.example.test", kind: ErrInvalid, why: "non-ASCII"},
		{addr: long(65) + "@x1.example.test", kind: ErrInvalid, why: "at most 64"},
		{addr: long(64) + "@" + long(63) + "." + long(63) + "." + long(63) + ".example.test", kind: ErrInvalid, why: "at most 254"},
		{addr: "x@example.test", kind: ErrInvalid, why: `on the apex "example.test" itself`},
		{addr: "x@mail.example.test", kind: ErrInvalid, why: `on the apex "mail.example.test" itself`},
		{addr: "x@a.b.example.test", kind: ErrInvalid, why: `2 labels ("a.b") in front of apex "example.test"`},
		{addr: "x@a.b.mail.example.test", kind: ErrInvalid, why: `in front of apex "mail.example.test"`},
		{addr: "x@x1.example.test.", kind: ErrInvalid, why: "domain ends with a dot"},
		{addr: "x@x1..example.test", kind: ErrInvalid, why: "empty label"},
		{addr: "x@.x1.example.test", kind: ErrInvalid, why: "empty label"},
		{addr: "x@-x1.example.test", kind: ErrInvalid, why: "starts with a hyphen"},
		{addr: "x@x_1.example.test", kind: ErrInvalid, why: `domain label "x_1" contains "_"`},
		{addr: "x@xn--bcher-kva.example.test", kind: ErrInvalid, why: "positions 3 and 4"},
		{addr: "x@bücher.example.test", kind: ErrInvalid, why: "non-ASCII"},
		{addr: "x@" + long(64) + ".example.test", kind: ErrInvalid, why: "at most 63"},
		{addr: "x@localhost", kind: ErrInvalid, why: "needs one subdomain label"},
		{addr: "x@[127.0.0.1]", kind: ErrInvalid, why: `contains "["`},
		{addr: "x@a.nope.test", kind: ErrUnknownApex, why: `addresses: apex "nope.test" is not configured (add it with "cabalmail domain add")`},
		{addr: "x@a.example.org", kind: ErrUnknownApex, why: `apex "example.org"`},
		{addr: "x@a.test", kind: ErrUnknownApex, why: `apex "test"`},
	}
	for _, tt := range tests {
		got, err := parse(tt.addr, testApexes)
		if tt.kind == nil {
			if err != nil || got != tt.want {
				t.Errorf("parse(%q) = %+v, %v; want %+v", tt.addr, got, err, tt.want)
			}
			continue
		}
		if !errors.Is(err, tt.kind) {
			t.Errorf("parse(%q) = %+v, %v; want %v", tt.addr, got, err, tt.kind)
			continue
		}
		if !strings.Contains(err.Error(), tt.why) || !strings.HasPrefix(err.Error(), "addresses: ") {
			t.Errorf("parse(%q) error %q, want it to contain %q", tt.addr, err, tt.why)
		}
		if got != (Parsed{}) {
			t.Errorf("parse(%q) returned parts %+v with an error", tt.addr, got)
		}
	}
}

func TestParsedString(t *testing.T) {
	p := Parsed{Local: "shop", Subdomain: "x1", Apex: "example.test"}
	if got := p.String(); got != "shop@x1.example.test" {
		t.Errorf("String() = %q", got)
	}
	if got := p.Domain(); got != "x1.example.test" {
		t.Errorf("Domain() = %q", got)
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"shop@x1.example.test", "A.B+c@X7K2.mail.example.test", "x@example.test",
		"x y@a.example.test", `"q"@a.other.test`, "a@b@c", "x@a.b.example.test",
		"x@xn--a.example.test", "x@a.nope.test", ".x@a.other.test", "x@a..other.test",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, addr string) {
		p, err := parse(addr, testApexes)
		if err != nil {
			if p != (Parsed{}) {
				t.Fatalf("parse(%q) returned parts %+v with error %v", addr, p, err)
			}
			if !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrUnknownApex) {
				t.Fatalf("parse(%q) error %v is neither ErrInvalid nor ErrUnknownApex", addr, err)
			}
			return
		}
		s := p.String()
		if s != strings.ToLower(addr) {
			t.Fatalf("parse(%q).String() = %q, want the lower-cased input", addr, s)
		}
		again, err := parse(s, testApexes)
		if err != nil || again != p {
			t.Fatalf("re-parse of %q = %+v, %v; want %+v", s, again, err, p)
		}
		if len(s) > maxAddress || len(p.Local) == 0 || len(p.Local) > maxLocal {
			t.Fatalf("accepted %q breaks a length limit", s)
		}
		if ValidateLocal(p.Local) != nil || ValidateLabel(p.Subdomain) != nil {
			t.Fatalf("accepted %q has an invalid part: %+v", s, p)
		}
		for i := 0; i < len(s); i++ {
			if c := s[i]; c >= 0x80 || c <= ' ' || ('A' <= c && c <= 'Z') {
				t.Fatalf("accepted %q contains %q", s, c)
			}
		}
		found := false
		for _, a := range testApexes {
			found = found || a == p.Apex
		}
		if !found || strings.Contains(p.Subdomain, ".") {
			t.Fatalf("accepted %q split as %+v", s, p)
		}
	})
}
