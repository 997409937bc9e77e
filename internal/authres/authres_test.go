package authres

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"
	"github.com/miekg/dns"
)

// dnsServer answers TXT queries from records on 127.0.0.1 (UDP), as a
// real resolver would.
func dnsServer(t *testing.T, records map[string][]string) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		q := r.Question[0]
		txts, ok := records[strings.ToLower(q.Name)]
		if !ok {
			m.Rcode = dns.RcodeNameError
		}
		if q.Qtype == dns.TypeTXT {
			for _, v := range txts {
				m.Answer = append(m.Answer, &dns.TXT{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 60}, Txt: splitTXT(v)})
			}
		}
		_ = w.WriteMsg(m)
	})}
	go func() { _ = srv.ActivateAndServe() }()
	t.Cleanup(func() { _ = srv.Shutdown() })
	return pc.LocalAddr().String()
}

func splitTXT(s string) []string {
	var out []string
	for len(s) > 255 {
		out = append(out, s[:255])
		s = s[255:]
	}
	return append(out, s)
}

func signedMessage(t *testing.T, key ed25519.PrivateKey, domain string) []byte {
	t.Helper()
	msg := "From: Alice <alice@" + domain + ">\r\nTo: bob@x1.example.test\r\nSubject: hi\r\n\r\nHello.\r\n"
	var out bytes.Buffer
	if err := dkim.Sign(&out, strings.NewReader(msg), &dkim.SignOptions{Domain: domain, Selector: "sel", Signer: key}); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func TestCheckPass(t *testing.T) {
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	addr := dnsServer(t, map[string][]string{
		"remote.example.":                {"v=spf1 ip4:127.0.0.1 -all"},
		"sel._domainkey.remote.example.": {"v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(pub)},
		"_dmarc.remote.example.":         {"v=DMARC1; p=reject"},
		"other.example.":                 {"v=spf1 -all"},
		"_dmarc.other.example.":          {"v=DMARC1; p=none; aspf=s"},
		"sel._domainkey.forged.example.": {"v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(pub[:16])},
	})
	c := New(Options{AuthServID: "mail.example.test", Resolver: addr, Timeout: 3 * time.Second})
	env := Envelope{RemoteIP: net.ParseIP("127.0.0.1"), Helo: "mx.remote.example", MailFrom: "bounce@remote.example"}
	res := c.Check(context.Background(), env, signedMessage(t, key, "remote.example"))
	if res.SPF != "pass" || len(res.DKIM) != 1 || res.DKIM[0].Value != "pass" || res.DMARC != "pass" {
		t.Fatalf("all should pass: %+v", res)
	}
	field := c.Field(env, res)
	for _, want := range []string{"Authentication-Results: mail.example.test;\r\n\tspf=pass smtp.mailfrom=bounce@remote.example;\r\n\tdkim=pass header.d=remote.example;\r\n\tdmarc=pass header.from=remote.example\r\n"} {
		if field != want {
			t.Errorf("field:\n got %q\nwant %q", field, want)
		}
	}

	// SPF fails, no signature: DMARC fails.
	env2 := Envelope{RemoteIP: net.ParseIP("127.0.0.1"), Helo: "h", MailFrom: "x@other.example"}
	msg := []byte("From: x@other.example\r\nSubject: s\r\n\r\nb\r\n")
	res = c.Check(context.Background(), env2, msg)
	if res.SPF != "fail" || len(res.DKIM) != 0 || res.DMARC != "fail" {
		t.Fatalf("want spf fail, dmarc fail: %+v", res)
	}
	// No DMARC record: none.
	res = c.Check(context.Background(), env2, []byte("From: x@nowhere.example\r\n\r\nb\r\n"))
	if res.DMARC != "none" {
		t.Fatalf("no record: %+v", res)
	}
	// Two From addresses: permerror (RFC 7489 6.6.1).
	res = c.Check(context.Background(), env2, []byte("From: a@remote.example, b@other.example\r\n\r\nb\r\n"))
	if res.DMARC != "permerror" {
		t.Fatalf("two From addresses: %+v", res)
	}
}

func TestDeadResolverIsTemperror(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	c := New(Options{AuthServID: "mail.example.test", Resolver: pc.LocalAddr().String(), Timeout: 500 * time.Millisecond})
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	start := time.Now()
	res := c.Check(context.Background(), Envelope{RemoteIP: net.ParseIP("127.0.0.1"), Helo: "h", MailFrom: "a@remote.example"}, signedMessage(t, key, "remote.example"))
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("a dead resolver held the check for %v", d)
	}
	if res.SPF != "temperror" || res.DKIM[0].Value != "temperror" || res.DMARC != "temperror" {
		t.Fatalf("want temperror everywhere: %+v", res)
	}
}

func TestStripForged(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"Authentication-Results: mail.example.test; spf=pass\r\nSubject: x\r\n\r\nAuthentication-Results: mail.example.test; body\r\n",
			"Subject: x\r\n\r\nAuthentication-Results: mail.example.test; body\r\n"},
		{"Subject: x\r\nauthentication-results : (c) MAIL.Example.Test. 1;\r\n\tdkim=pass\r\nTo: y\r\n\r\nb",
			"Subject: x\r\nTo: y\r\n\r\nb"},
		{"Authentication-Results: other.example; spf=pass\r\n\r\n", "Authentication-Results: other.example; spf=pass\r\n\r\n"},
		{"Authentication-Results: mail.example.test.evil; spf=pass\r\n\r\n", "Authentication-Results: mail.example.test.evil; spf=pass\r\n\r\n"},
		{"Authentication-Results: mail.example.test", ""},
		{"X-Authentication-Results: mail.example.test; a\r\n\r\n", "X-Authentication-Results: mail.example.test; a\r\n\r\n"},
	} {
		if got := string(StripForged([]byte(tc.in), "mail.example.test")); got != tc.want {
			t.Errorf("StripForged(%q):\n got %q\nwant %q", tc.in, got, tc.want)
		}
	}
}

// FuzzStripForged: the result never contains a header field claiming our
// id, the body is never touched, and stripping twice changes nothing more.
func FuzzStripForged(f *testing.F) {
	f.Add([]byte("Authentication-Results: mail.example.test; spf=pass\r\nSubject: x\r\n\r\nbody"))
	f.Add([]byte("A: b\r\n c\r\nAuthentication-Results:(x(y))mail.example.test\r\n\r\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		out := StripForged(in, "mail.example.test")
		if !bytes.HasSuffix(out, in[len(headerOf(in)):]) {
			t.Fatalf("body changed: %q -> %q", in, out)
		}
		head := headerOf(out)
		for rest := head; len(rest) > 0; {
			n := fieldLen(rest)
			if claimsID(rest[:n], "mail.example.test") {
				t.Fatalf("forged field kept: %q in %q", rest[:n], out)
			}
			rest = rest[n:]
		}
		if again := StripForged(out, "mail.example.test"); !bytes.Equal(again, out) {
			t.Fatalf("not idempotent: %q -> %q -> %q", in, out, again)
		}
	})
}
