package domains

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cabalmail/cabalmail/internal/dkim"
	"github.com/cabalmail/cabalmail/internal/store"
	"github.com/cabalmail/cabalmail/internal/store/sqlite"
)

func find(recs []Record, name, typ string) []Record {
	var out []Record
	for _, r := range recs {
		if r.Name == name && r.Type == typ {
			out = append(out, r)
		}
	}
	return out
}

func TestDerive(t *testing.T) {
	key, err := dkim.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	doms := []store.Domain{{Apex: "example.com", DKIMSelector: "cabal", DKIMKeyPEM: key}, {Apex: "alpha.org", DKIMSelector: "k2", DKIMKeyPEM: key}}
	addrs := []store.Address{
		{Subdomain: "shop", Apex: "example.com", State: store.AddressActive},
		{Subdomain: "shop", Apex: "example.com", State: store.AddressSuspended},
		{Subdomain: "gone", Apex: "example.com", State: store.AddressSuspended},
		{Subdomain: "x1", Apex: "alpha.org", State: store.AddressActive},
	}
	opts := Options{ControlDomain: "mail.example.com", PublicIPs: []string{"203.0.113.5"}, Static: []Record{
		{Name: "mail.example.com.", Type: "TXT", Value: "v=spf1 ip4:203.0.113.0/24 -all", TTL: 60},
		{Name: "_dmarc.shop.example.com.", Type: "TXT", Value: "v=DMARC1; p=none", TTL: 60},
		{Name: "www.elsewhere.net.", Type: "A", Value: "192.0.2.1", TTL: 60},
	}}
	z, err := Derive(opts, doms, addrs)
	if err != nil {
		t.Fatal(err)
	}
	if z.Control != "mail.example.com." || strings.Join(z.Apexes, ",") != "alpha.org.,example.com." {
		t.Errorf("zones %q %q", z.Control, z.Apexes)
	}
	checks := []struct {
		name, typ, want string
		n               int
	}{
		{"shop.example.com.", "MX", "10 smtp-in.mail.example.com.", 1},
		{"cabal._domainkey.shop.example.com.", "CNAME", "cabal.example.com._domainkey.mail.example.com.", 1},
		{"k2._domainkey.x1.alpha.org.", "CNAME", "k2.alpha.org._domainkey.mail.example.com.", 1},
		{"k2.alpha.org._domainkey.mail.example.com.", "TXT", "v=DKIM1; k=rsa; p=", 1},
		{"mail-admin.alpha.org.", "MX", "10 smtp-in.mail.example.com.", 1},
		// The control domain is under example.com, so reports go there and
		// alpha.org's subdomains need an authorization record.
		{"_dmarc.mail.example.com.", "TXT", "rua=mailto:dmarc-reports@mail-admin.example.com", 1},
		{"x1.alpha.org._report._dmarc.mail-admin.example.com.", "TXT", "v=DMARC1", 1},
		{"shop.example.com._report._dmarc.mail-admin.example.com.", "TXT", "", 0},
		// Static records replace derived ones: the SPF policy, and a
		// static TXT replaces the derived CNAME at its name.
		{"mail.example.com.", "TXT", "v=spf1 ip4:203.0.113.0/24 -all", 1},
		{"_dmarc.shop.example.com.", "TXT", "p=none", 1},
		{"_dmarc.shop.example.com.", "CNAME", "", 0},
		// Suspended only: no records.
		{"gone.example.com.", "MX", "", 0},
	}
	for _, c := range checks {
		got := find(z.Records, c.name, c.typ)
		if len(got) != c.n || c.n > 0 && !strings.Contains(got[0].Value, c.want) {
			t.Errorf("%s %s = %+v, want %d record(s) with %q", c.name, c.typ, got, c.n, c.want)
		}
	}
	for _, r := range z.Records {
		if strings.Contains(r.Name, "gone.") {
			t.Errorf("withdrawn subdomain has %v", r)
		}
	}
	if len(z.Unplaced) != 1 || z.Unplaced[0].Name != "www.elsewhere.net." {
		t.Errorf("unplaced %+v", z.Unplaced)
	}

	bad := []store.Domain{{Apex: "example.com", DKIMSelector: "cabal", DKIMKeyPEM: "not a key"}}
	if _, err := Derive(opts, bad, nil); err == nil || !strings.Contains(err.Error(), "example.com") {
		t.Errorf("bad key: %v", err)
	}
	if _, err := Derive(Options{}, doms, nil); err == nil {
		t.Error("no control domain accepted")
	}
}

func TestSigningDomainAndRecords(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "c.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	s := New(st, Options{ControlDomain: "mail.example.com", Selector: "cabal"})
	d, err := s.Add(ctx, "operator", "example.com")
	if err != nil {
		t.Fatal(err)
	}
	sg, err := s.SigningDomain(ctx, "Shop.Example.COM.")
	if err != nil {
		t.Fatal(err)
	}
	if sg.Domain != "shop.example.com" || sg.Selector != "cabal" || sg.KeyPEM != d.DKIMKeyPEM {
		t.Errorf("signing %+v", sg)
	}
	for _, bad := range []string{"example", "x.nope.test"} {
		if _, err := s.SigningDomain(ctx, bad); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("SigningDomain(%q) = %v, want ErrNotFound", bad, err)
		}
	}
	rs, err := s.Records(ctx, "example.com")
	if err != nil {
		t.Fatal(err)
	}
	// No public IP configured: a placeholder the operator fills in.
	if a := find(rs.Full, "smtp-in.mail.example.com.", "A"); len(a) != 1 || !a[0].Placeholder {
		t.Errorf("placeholder A: %+v", a)
	}
	if _, err := s.Records(ctx, "nope.test"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("records of unknown apex: %v", err)
	}
}
