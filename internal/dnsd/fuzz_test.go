package dnsd

import (
	"testing"

	"github.com/miekg/dns"

	"github.com/cabalmail/cabalmail/internal/dkim"
	"github.com/cabalmail/cabalmail/internal/domains"
	"github.com/cabalmail/cabalmail/internal/store"
)

// fuzzSnapshot is answer data for a small installation, made without a store.
func fuzzSnapshot(f *testing.F) *snapshot {
	key, err := dkim.GenerateKey()
	if err != nil {
		f.Fatal(err)
	}
	doms := []store.Domain{{Apex: "example.test", DKIMSelector: "cabal", DKIMKeyPEM: key}, {Apex: "other.test", DKIMSelector: "cabal", DKIMKeyPEM: key}}
	addrs := []store.Address{
		{Address: "a@x1.example.test", Local: "a", Subdomain: "x1", Apex: "example.test", State: store.AddressActive},
		{Address: "b@y2.other.test", Local: "b", Subdomain: "y2", Apex: "other.test", State: store.AddressActive},
		{Address: "c@z3.example.test", Local: "c", Subdomain: "z3", Apex: "example.test", State: store.AddressSuspended},
	}
	z, err := domains.Derive(domains.Options{ControlDomain: "mail.example.test", PublicIPs: []string{"192.0.2.1", "2001:db8::1"},
		Static: []domains.Record{{Name: "loop.example.test.", Type: "CNAME", Value: "loop.example.test.", TTL: 60}}}, doms, addrs)
	if err != nil {
		f.Fatal(err)
	}
	snap, errs := buildSnapshot(z, 7, hashZones(z))
	if len(errs) > 0 {
		f.Fatal(errs)
	}
	return snap
}

// FuzzServeDNS feeds random packets to the query handler: whatever parses
// must get a reply that packs, echoes the ID, and fits the UDP budget.
func FuzzServeDNS(f *testing.F) {
	snap := fuzzSnapshot(f)
	for _, q := range []struct {
		name  string
		qtype uint16
		edns  uint16
	}{
		{"x1.example.test.", dns.TypeMX, 0},
		{"cabal._domainkey.x1.example.test.", dns.TypeTXT, 0},
		{"CABAL._domainkey.Y2.other.test.", dns.TypeTXT, 1232},
		{"nope.example.test.", dns.TypeA, 0},
		{"_domainkey.x1.example.test.", dns.TypeANY, 4096},
		{"loop.example.test.", dns.TypeA, 0},
		{"example.com.", dns.TypeA, 0},
		{"example.test.", dns.TypeAXFR, 0},
	} {
		m := new(dns.Msg)
		m.SetQuestion(q.name, q.qtype)
		if q.edns > 0 {
			m.SetEdns0(q.edns, true)
		}
		b, err := m.Pack()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, true)
	}
	f.Fuzz(func(t *testing.T, packet []byte, udp bool) {
		req := new(dns.Msg)
		if err := req.Unpack(packet); err != nil {
			return // miekg's parser refuses it; the server drops or FORMERRs it
		}
		r := answer(snap, req, udp)
		out, err := r.Pack()
		if err != nil {
			t.Fatalf("reply does not pack: %v\nrequest %v\nreply %v", err, req, r)
		}
		if r.Id != req.Id || !r.Response {
			t.Fatalf("reply id %d qr %v for request %d", r.Id, r.Response, req.Id)
		}
		if udp {
			limit := minUDPSize
			if opt := req.IsEdns0(); opt != nil && int(opt.UDPSize()) > limit {
				limit = int(opt.UDPSize())
			}
			if len(out) > limit {
				t.Fatalf("UDP reply of %d octets over the client's %d", len(out), limit)
			}
		}
		if r.RecursionAvailable {
			t.Fatal("RA set")
		}
	})
}
