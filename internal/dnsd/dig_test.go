package dnsd

import (
	"context"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/cabalmail/cabalmail/internal/addresses"
)

// dig runs the real dig against the server and returns its output.
func (e *env) dig(args ...string) string {
	e.t.Helper()
	host, port, err := net.SplitHostPort(e.addr)
	if err != nil {
		e.t.Fatal(err)
	}
	all := append([]string{"@" + host, "-p", port, "+time=2", "+tries=1"}, args...)
	out, err := exec.Command("dig", all...).CombinedOutput()
	if err != nil {
		e.t.Fatalf("dig %s: %v\n%s", strings.Join(all, " "), err, out)
	}
	return string(out)
}

// within polls dig until check holds, for at most one second after the
// change (the freshness promise), and fails otherwise.
func (e *env) within(what string, check func(out string) bool, args ...string) {
	e.t.Helper()
	deadline := time.Now().Add(time.Second)
	for {
		out := e.dig(args...)
		if check(out) {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("%s: not seen within 1s; last dig %s:\n%s", what, strings.Join(args, " "), out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func status(s string) func(string) bool {
	return func(out string) bool { return strings.Contains(out, "status: "+s) }
}

func TestDigStateChanges(t *testing.T) {
	if _, err := exec.LookPath("dig"); err != nil {
		t.Skip("dig not installed (Debian package dnsutils; scripts/install-test-deps.sh installs it)")
	}
	ctx := context.Background()
	e := newEnv(t)
	op := addresses.Operator()
	hasMX := func(out string) bool {
		return strings.Contains(out, "status: NOERROR") && strings.Contains(out, "MX\t10 smtp-in.mail.example.test.") && strings.Contains(out, "flags: qr aa")
	}

	// Before: the subdomain does not exist.
	if out := e.dig("shop.example.test", "MX"); !strings.Contains(out, "status: NXDOMAIN") || !strings.Contains(out, "SOA") {
		t.Fatalf("before create:\n%s", out)
	}
	// Create: every record appears.
	e.create("amazon@shop.example.test")
	e.within("create -> MX", hasMX, "shop.example.test", "MX")
	for _, q := range [][]string{
		{"shop.example.test", "TXT", "v=spf1 include:mail.example.test ~all"},
		{"cabal._domainkey.shop.example.test", "TXT", "v=DKIM1; k=rsa; p="},
		{"_dmarc.shop.example.test", "TXT", "v=DMARC1; p=reject"},
		{"mail.example.test", "A", "192.0.2.1"},
		{"mail.example.test", "AAAA", "2001:db8::1"},
		{"example.test", "SOA", "ns.mail.example.test. hostmaster.mail.example.test."},
		{"example.test", "NS", "ns.mail.example.test."},
	} {
		if out := e.dig(q[0], q[1]); !strings.Contains(out, q[2]) || !strings.Contains(out, "flags: qr aa") {
			t.Errorf("dig %s %s lacks %q or AA:\n%s", q[0], q[1], q[2], out)
		}
	}
	// Suspend: the subdomain disappears; reinstate brings it back.
	if err := e.addrs.Suspend(ctx, op, "amazon@shop.example.test"); err != nil {
		t.Fatal(err)
	}
	e.within("suspend -> NXDOMAIN", status("NXDOMAIN"), "shop.example.test", "MX")
	e.within("suspend -> DKIM NXDOMAIN", status("NXDOMAIN"), "cabal._domainkey.shop.example.test", "TXT")
	if err := e.addrs.Reinstate(ctx, op, "amazon@shop.example.test"); err != nil {
		t.Fatal(err)
	}
	e.within("reinstate -> MX", hasMX, "shop.example.test", "MX")
	// Revoke of the last address: gone.
	if err := e.addrs.Revoke(ctx, op, "amazon@shop.example.test"); err != nil {
		t.Fatal(err)
	}
	e.within("revoke -> NXDOMAIN", status("NXDOMAIN"), "shop.example.test", "MX")

	// Co-tenants: revoking one of two addresses keeps the subdomain.
	e.create("school@kids.example.test", "alice")
	e.create("club@kids.example.test", "bob")
	e.within("co-tenants -> MX", hasMX, "kids.example.test", "MX")
	if err := e.addrs.Revoke(ctx, op, "school@kids.example.test"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second) // a full second: the records must still be there
	if out := e.dig("kids.example.test", "MX"); !hasMX(out) {
		t.Errorf("co-tenant's subdomain lost its MX:\n%s", out)
	}
	if err := e.addrs.Revoke(ctx, op, "club@kids.example.test"); err != nil {
		t.Fatal(err)
	}
	e.within("last co-tenant revoked -> NXDOMAIN", status("NXDOMAIN"), "kids.example.test", "MX")

	// NODATA, REFUSED and case from dig's side.
	if out := e.dig("mail.example.test", "MX"); !strings.Contains(out, "status: NOERROR") || !strings.Contains(out, "ANSWER: 0") || !strings.Contains(out, "AUTHORITY: 1") {
		t.Errorf("NODATA:\n%s", out)
	}
	if out := e.dig("example.com", "A"); !strings.Contains(out, "status: REFUSED") {
		t.Errorf("outside our zones:\n%s", out)
	}
	if out := e.dig("+norecurse", "MAIL.Example.TEST", "A"); !strings.Contains(out, "MAIL.Example.TEST.\t3600\tIN\tA\t192.0.2.1") {
		t.Errorf("mixed case:\n%s", out)
	}
}

func TestDigTCPFallback(t *testing.T) {
	if _, err := exec.LookPath("dig"); err != nil {
		t.Skip("dig not installed (Debian package dnsutils; scripts/install-test-deps.sh installs it)")
	}
	e := newEnv(t)
	e.create("shop@x1.example.test")
	e.refresh()
	const name = "cabal._domainkey.x1.example.test"
	// Without EDNS the answer does not fit 512 octets: +ignore shows the
	// truncated UDP reply, the default retries over TCP and gets it all.
	if out := e.dig("+noedns", "+ignore", name, "TXT"); !strings.Contains(out, " tc") {
		t.Errorf("no TC over UDP:\n%s", out)
	}
	out := e.dig("+noedns", name, "TXT")
	if !strings.Contains(out, "Truncated, retrying in TCP mode") || !strings.Contains(out, "(TCP)") || !strings.Contains(out, "v=DKIM1; k=rsa; p=") {
		t.Errorf("no TCP retry:\n%s", out)
	}
}
