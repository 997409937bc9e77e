package dnsd

import (
	"context"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/cabalmail/cabalmail/internal/domains"
)

func rrStrings(rrs []dns.RR) []string {
	var out []string
	for _, rr := range rrs {
		s := rr.String()
		// Drop the TTL column so expectations read as data.
		f := strings.SplitN(s, "\t", 3)
		if len(f) == 3 {
			s = f[0] + " " + f[2]
		}
		out = append(out, strings.ReplaceAll(s, "\t", " "))
	}
	return out
}

func TestAnswers(t *testing.T) {
	e := newEnv(t, domains.Record{Name: "www.example.test.", Type: "A", Value: "192.0.2.80", TTL: 600})
	e.create("shop@x1.example.test")
	e.create("news@y2.other.test")
	e.refresh()

	type want struct {
		rcode  int
		answer []string // substrings, one per answer record, in order
		soa    bool     // SOA expected in authority
		aa     bool
	}
	tests := []struct {
		name  string
		qname string
		qtype uint16
		want  want
	}{
		{"apex SOA", "example.test.", dns.TypeSOA, want{0, []string{"example.test. IN SOA ns.mail.example.test. hostmaster.mail.example.test."}, false, true}},
		{"apex NS", "example.test.", dns.TypeNS, want{0, []string{"example.test. IN NS ns.mail.example.test."}, false, true}},
		{"control NS", "mail.example.test.", dns.TypeNS, want{0, []string{"mail.example.test. IN NS ns.mail.example.test."}, false, true}},
		{"control A", "mail.example.test.", dns.TypeA, want{0, []string{"IN A 192.0.2.1"}, false, true}},
		{"control AAAA", "mail.example.test.", dns.TypeAAAA, want{0, []string{"IN AAAA 2001:db8::1"}, false, true}},
		{"host A", "smtp-in.mail.example.test.", dns.TypeA, want{0, []string{"smtp-in.mail.example.test. IN A 192.0.2.1"}, false, true}},
		{"name server A", "ns.mail.example.test.", dns.TypeA, want{0, []string{"ns.mail.example.test. IN A 192.0.2.1"}, false, true}},
		{"control SPF", "mail.example.test.", dns.TypeTXT, want{0, []string{`"v=spf1 ip4:192.0.2.1 ip6:2001:db8::1 -all"`}, false, true}},
		{"control DMARC", "_dmarc.mail.example.test.", dns.TypeTXT, want{0, []string{`"v=DMARC1; p=reject; sp=reject; adkim=s; aspf=s; rua=mailto:dmarc-reports@mail-admin.example.test"`}, false, true}},
		{"key record", "cabal.example.test._domainkey.mail.example.test.", dns.TypeTXT, want{0, []string{`"v=DKIM1; k=rsa; p=`}, false, true}},
		{"subdomain MX", "x1.example.test.", dns.TypeMX, want{0, []string{"x1.example.test. IN MX 10 smtp-in.mail.example.test."}, false, true}},
		{"subdomain SPF", "x1.example.test.", dns.TypeTXT, want{0, []string{`x1.example.test. IN TXT "v=spf1 include:mail.example.test ~all"`}, false, true}},
		{"subdomain DKIM", "cabal._domainkey.x1.example.test.", dns.TypeTXT, want{0, []string{"cabal._domainkey.x1.example.test. IN CNAME cabal.example.test._domainkey.mail.example.test.", `cabal.example.test._domainkey.mail.example.test. IN TXT "v=DKIM1; k=rsa; p=`}, false, true}},
		{"subdomain DKIM CNAME", "cabal._domainkey.x1.example.test.", dns.TypeCNAME, want{0, []string{"IN CNAME cabal.example.test._domainkey.mail.example.test."}, false, true}},
		{"subdomain DMARC", "_dmarc.x1.example.test.", dns.TypeTXT, want{0, []string{"_dmarc.x1.example.test. IN CNAME _dmarc.mail.example.test.", `"v=DMARC1; p=reject`}, false, true}},
		{"apex DMARC", "_dmarc.example.test.", dns.TypeTXT, want{0, []string{"_dmarc.example.test. IN CNAME _dmarc.mail.example.test.", `"v=DMARC1; p=reject`}, false, true}},
		{"second apex key", "cabal.other.test._domainkey.mail.example.test.", dns.TypeTXT, want{0, []string{`"v=DKIM1; k=rsa; p=`}, false, true}},
		{"second apex subdomain DKIM", "cabal._domainkey.y2.other.test.", dns.TypeTXT, want{0, []string{"IN CNAME cabal.other.test._domainkey.mail.example.test.", `"v=DKIM1; k=rsa; p=`}, false, true}},
		{"report authorization", "y2.other.test._report._dmarc.mail-admin.example.test.", dns.TypeTXT, want{0, []string{`"v=DMARC1"`}, false, true}},
		{"mail-admin MX", "mail-admin.other.test.", dns.TypeMX, want{0, []string{"IN MX 10 smtp-in.mail.example.test."}, false, true}},
		{"static record", "www.example.test.", dns.TypeA, want{0, []string{"www.example.test. IN A 192.0.2.80"}, false, true}},
		{"case-insensitive", "X1.Example.TEST.", dns.TypeMX, want{0, []string{"X1.Example.TEST. IN MX 10 smtp-in.mail.example.test."}, false, true}},
		{"NXDOMAIN", "nope.example.test.", dns.TypeMX, want{dns.RcodeNameError, nil, true, true}},
		{"NXDOMAIN under control", "nope.mail.example.test.", dns.TypeA, want{dns.RcodeNameError, nil, true, true}},
		{"NXDOMAIN below a subdomain", "a.b.x1.example.test.", dns.TypeA, want{dns.RcodeNameError, nil, true, true}},
		{"NODATA", "x1.example.test.", dns.TypeAAAA, want{0, nil, true, true}},
		{"NODATA at empty non-terminal", "_domainkey.x1.example.test.", dns.TypeTXT, want{0, nil, true, true}},
		{"NODATA at apex", "example.test.", dns.TypeMX, want{0, nil, true, true}},
		{"outside our zones", "example.com.", dns.TypeA, want{dns.RcodeRefused, nil, false, false}},
		{"parent of our zone", "test.", dns.TypeNS, want{dns.RcodeRefused, nil, false, false}},
		{"suffix look-alike", "notexample.test.", dns.TypeA, want{dns.RcodeRefused, nil, false, false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.query("tcp", tt.qname, tt.qtype, 0)
			if r.Rcode != tt.want.rcode {
				t.Fatalf("rcode %s, want %s\n%v", dns.RcodeToString[r.Rcode], dns.RcodeToString[tt.want.rcode], r)
			}
			if r.Authoritative != tt.want.aa {
				t.Errorf("AA = %v, want %v", r.Authoritative, tt.want.aa)
			}
			if r.RecursionAvailable {
				t.Errorf("RA set")
			}
			got := rrStrings(r.Answer)
			if len(got) != len(tt.want.answer) {
				t.Fatalf("answer %q, want %d records like %q", got, len(tt.want.answer), tt.want.answer)
			}
			for i, w := range tt.want.answer {
				if !strings.Contains(got[i], w) {
					t.Errorf("answer[%d] = %q, want it to contain %q", i, got[i], w)
				}
			}
			hasSOA := len(r.Ns) == 1 && r.Ns[0].Header().Rrtype == dns.TypeSOA
			if tt.want.soa != hasSOA {
				t.Errorf("SOA in authority = %v, want %v: %v", hasSOA, tt.want.soa, r.Ns)
			}
			if hasSOA {
				zone := r.Ns[0].Header().Name
				if !strings.HasSuffix(strings.ToLower(tt.qname), zone) {
					t.Errorf("authority SOA of %s for %s", zone, tt.qname)
				}
				if r.Ns[0].Header().Ttl != soaMinimum {
					t.Errorf("negative SOA TTL %d, want %d (RFC 2308 3)", r.Ns[0].Header().Ttl, soaMinimum)
				}
			}
		})
	}

	t.Run("MX additional addresses", func(t *testing.T) {
		r := e.query("udp", "x1.example.test.", dns.TypeMX, 1232)
		if len(r.Extra) < 3 { // A, AAAA and OPT
			t.Errorf("additional %v, want the A and AAAA of smtp-in", r.Extra)
		}
	})
	t.Run("zone transfer refused", func(t *testing.T) {
		if r := e.query("tcp", "example.test.", dns.TypeAXFR, 0); r.Rcode != dns.RcodeRefused {
			t.Errorf("AXFR: %s", dns.RcodeToString[r.Rcode])
		}
	})
	t.Run("class CHAOS refused", func(t *testing.T) {
		m := new(dns.Msg)
		m.SetQuestion("version.bind.", dns.TypeTXT)
		m.Question[0].Qclass = dns.ClassCHAOS
		r, err := dns.Exchange(m, e.addr)
		if err != nil || r.Rcode != dns.RcodeRefused {
			t.Errorf("CHAOS: %v %v", r, err)
		}
	})
	t.Run("EDNS version 1", func(t *testing.T) {
		m := new(dns.Msg)
		m.SetQuestion("x1.example.test.", dns.TypeMX)
		m.SetEdns0(1232, false)
		m.IsEdns0().SetVersion(1)
		r, err := dns.Exchange(m, e.addr)
		if err != nil || r.Rcode != dns.RcodeBadVers || len(r.Answer) != 0 {
			t.Errorf("EDNS version 1: %v %v", r, err)
		}
	})
	t.Run("not a query", func(t *testing.T) {
		m := new(dns.Msg)
		m.SetUpdate("example.test.")
		r, err := dns.Exchange(m, e.addr)
		if err != nil || r.Rcode != dns.RcodeNotImplemented {
			t.Errorf("UPDATE: %v %v", r, err)
		}
	})
	t.Run("no recursion", func(t *testing.T) {
		m := new(dns.Msg)
		m.SetQuestion("example.com.", dns.TypeA)
		m.RecursionDesired = true
		r, err := dns.Exchange(m, e.addr)
		if err != nil || r.RecursionAvailable || r.Rcode != dns.RcodeRefused || !r.RecursionDesired {
			t.Errorf("RD query: %v %v", r, err)
		}
	})
}

func TestTruncation(t *testing.T) {
	e := newEnv(t)
	e.create("shop@x1.example.test")
	e.refresh()
	const name = "cabal._domainkey.x1.example.test."
	udp := e.query("udp", name, dns.TypeTXT, 0)
	if !udp.Truncated {
		t.Fatalf("a %d-octet answer fit in 512 octets without TC", e.query("tcp", name, dns.TypeTXT, 0).Len())
	}
	if udp.Len() > 512 {
		t.Errorf("UDP reply of %d octets exceeds 512", udp.Len())
	}
	tcp := e.query("tcp", name, dns.TypeTXT, 0)
	if tcp.Truncated || len(tcp.Answer) != 2 || tcp.Len() <= 512 {
		t.Errorf("TCP reply: TC=%v, %d answers, %d octets", tcp.Truncated, len(tcp.Answer), tcp.Len())
	}
	big := e.query("udp", name, dns.TypeTXT, 4096)
	if big.Truncated || len(big.Answer) != 2 || big.IsEdns0() == nil {
		t.Errorf("EDNS 4096 reply: TC=%v, %d answers, OPT %v", big.Truncated, len(big.Answer), big.IsEdns0())
	}
	if got := big.IsEdns0().UDPSize(); got != ourUDPSize {
		t.Errorf("advertised UDP size %d", got)
	}
}

func TestSerialAndFreshness(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	soa := func() uint32 {
		r := e.query("udp", "example.test.", dns.TypeSOA, 0)
		return r.Answer[0].(*dns.SOA).Serial
	}
	s1 := soa()
	if s1 == 0 || s1 != e.srv.Serial() {
		t.Fatalf("serial %d, server says %d", s1, e.srv.Serial())
	}
	e.refresh()
	if s := soa(); s != s1 {
		t.Errorf("serial moved without a change: %d -> %d", s1, s)
	}
	e.create("shop@x1.example.test")
	e.refresh()
	s2 := soa()
	if s2 <= s1 {
		t.Errorf("serial %d after a change, was %d", s2, s1)
	}
	// A second node on the same store serves the same serial.
	srv2, err := New(Options{Zones: domains.New(e.other, e.domOpt), Settings: e.other})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv2.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if srv2.Serial() != s2 {
		t.Errorf("second node serial %d, first %d", srv2.Serial(), s2)
	}
}
