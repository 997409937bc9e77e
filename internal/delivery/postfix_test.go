package delivery

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/cabalmail/cabalmail/internal/postfixtest"
	"github.com/cabalmail/cabalmail/internal/queue"
)

// postfixMX is a private Postfix from Debian acting as a remote domain's
// MX on loopback: smtpd on a high port of 127.0.0.1 with STARTTLS offered
// (a self-signed certificate), every recipient of remote.test delivered by
// the virtual agent into one Maildir.
type postfixMX struct {
	t    testing.TB
	dir  string
	addr string // host:port of smtpd
}

func needPostfix(t testing.TB, names ...string) {
	t.Helper()
	for _, n := range append([]string{"postfix", "postconf"}, names...) {
		if _, err := exec.LookPath(n); err != nil {
			t.Skipf("%s not installed (scripts/install-test-deps.sh installs Debian's postfix)", n)
		}
	}
	if os.Geteuid() != 0 {
		t.Skip("running a private Postfix needs root")
	}
	if _, err := os.Stat(postfixtest.StockMasterCF); err != nil {
		t.Skipf("postfix: %v", err)
	}
}

// freePort returns a loopback port nobody listens on now.
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startPostfix runs a private Postfix from its own configuration
// directory. extraMain is appended to main.cf; master lines replace the
// stock smtp inet service.
func startPostfix(t testing.TB, extraMain string, master ...string) *postfixMX {
	t.Helper()
	dir, err := os.MkdirTemp("", "cabalmail-postfix-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	pf, err := postfixtest.Setup(dir, master, fmt.Sprintf(`myhostname = mx.remote.test
mydomain = remote.test
mynetworks = 127.0.0.0/8
local_transport = error:local delivery is disabled
virtual_mailbox_domains = remote.test
virtual_mailbox_base = %[1]s/vmail
virtual_mailbox_maps = static:box/
virtual_uid_maps = static:65534
virtual_gid_maps = static:65534
smtpd_tls_cert_file = %[1]s/conf/cert.pem
smtpd_tls_key_file = %[1]s/conf/key.pem
smtpd_tls_security_level = may
smtpd_tls_received_header = yes
%[2]s
`, dir, extraMain))
	if err != nil {
		t.Fatal(err)
	}
	writeSelfSigned(t, filepath.Join(pf.Conf, "cert.pem"), filepath.Join(pf.Conf, "key.pem"))
	p := &postfixMX{t: t, dir: dir}
	if err := os.Mkdir(filepath.Join(dir, "vmail"), 0o755); err != nil {
		t.Fatal(err)
	}
	p.run("chown", "65534:65534", filepath.Join(dir, "vmail"))
	if err := pf.Start(); err != nil {
		t.Fatalf("%v\nmaillog:\n%s", err, p.maillog())
	}
	t.Cleanup(func() {
		if err := pf.Stop(); err != nil {
			t.Logf("%v", err)
		}
	})
	return p
}

// startPostfixMX starts Postfix as remote.test's MX and waits until its
// smtpd answers.
func startPostfixMX(t testing.TB) *postfixMX {
	t.Helper()
	needPostfix(t)
	port := freePort(t)
	p := startPostfix(t, "", fmt.Sprintf("127.0.0.1:%d inet n - n - - smtpd", port))
	p.addr = fmt.Sprintf("127.0.0.1:%d", port)
	p.waitListening(p.addr)
	return p
}

func (p *postfixMX) waitListening(addr string) {
	p.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("postfix smtpd on %s never answered: %v\n%s", addr, err, p.maillog())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (p *postfixMX) run(name string, args ...string) string {
	p.t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		p.t.Fatalf("%s %s: %v\n%s\nmaillog:\n%s", name, strings.Join(args, " "), err, out, p.maillog())
	}
	return string(out)
}

func (p *postfixMX) maillog() string {
	b, _ := os.ReadFile(filepath.Join(p.dir, "maillog"))
	return string(b)
}

// waitMaildir waits for a message holding want in the Maildir and returns
// it.
func (p *postfixMX) waitMaildir(want string) string {
	p.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		files, _ := filepath.Glob(filepath.Join(p.dir, "vmail", "box", "new", "*"))
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err == nil && strings.Contains(string(b), want) {
				return string(b)
			}
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("no message with %q reached Postfix's Maildir (%d files)\nmaillog:\n%s", want, len(files), p.maillog())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func writeSelfSigned(t testing.TB, certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "mx.remote.test"},
		DNSNames: []string{"mx.remote.test"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// startDNS serves MX remote.test → mx.remote.test and A mx.remote.test →
// 127.0.0.1 on a loopback UDP port, NXDOMAIN for anything else, and
// returns its address.
func startDNS(t testing.TB) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mux := dns.NewServeMux()
	mux.HandleFunc(".", func(w dns.ResponseWriter, req *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(req)
		m.Authoritative = true
		q := req.Question[0]
		name := strings.ToLower(q.Name)
		switch {
		case name == "remote.test." && q.Qtype == dns.TypeMX:
			m.Answer = append(m.Answer, &dns.MX{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeMX, Class: dns.ClassINET, Ttl: 60},
				Preference: 10, Mx: "mx.remote.test."})
		case name == "mx.remote.test." && q.Qtype == dns.TypeA:
			m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60},
				A: net.IPv4(127, 0, 0, 1)})
		case name == "remote.test." || name == "mx.remote.test.":
			// The name exists with no record of that type (NODATA).
		default:
			m.Rcode = dns.RcodeNameError
		}
		if err := w.WriteMsg(m); err != nil {
			t.Logf("dns: write: %v", err)
		}
	})
	srv := &dns.Server{PacketConn: pc, Handler: mux}
	go func() { _ = srv.ActivateAndServe() }()
	t.Cleanup(func() { _ = srv.Shutdown() })
	return pc.LocalAddr().String()
}

func TestPostfixAsRemoteMX(t *testing.T) {
	p := startPostfixMX(t)
	_, port, _ := net.SplitHostPort(p.addr)
	mxPort, _ := strconv.Atoi(port)
	for _, way := range []struct {
		name  string
		tune  func(*Options)
		relay string
	}{
		{name: "route", relay: p.addr},
		{name: "mx", tune: func(o *Options) { o.Resolver = startDNS(t); o.MXPort = mxPort }},
	} {
		t.Run(way.name, func(t *testing.T) {
			e := newEnv(t, way.relay, way.tune)
			e.start()
			subject := "to postfix by " + way.name
			line := fmt.Sprintf("Line %s %d with trailing text.", way.name, time.Now().UnixNano())
			body := fmt.Sprintf("From: <alice@x1.example.test>\r\nTo: <bob@remote.test>\r\nSubject: %s\r\n\r\n%s\r\n.leading dot\r\n%s\r\n",
				subject, line, strings.Repeat("x", 900))
			id, err := e.q.Enqueue(t.Context(), queue.Message{From: "alice@x1.example.test", Recipients: []string{"bob@remote.test", "carol@remote.test"}, Body: strings.NewReader(body)})
			if err != nil {
				t.Fatal(err)
			}
			evs := e.waitEvents(2)
			for _, ev := range evs {
				if ev.Status != "Sent" || ev.QueueID != id {
					t.Errorf("event %+v, want Sent for %s\nmaillog:\n%s", ev, id, p.maillog())
				}
			}
			got := p.waitMaildir(line)
			for _, want := range []string{"Subject: " + subject, "\n.leading dot\n", strings.Repeat("x", 900),
				"Return-Path: <alice@x1.example.test>", "with ESMTPS id"} {
				if !strings.Contains(strings.ReplaceAll(got, "\r\n", "\n"), want) {
					t.Errorf("message in Postfix's Maildir lacks %q:\n%s", want, got)
				}
			}
			e.waitQueueLen(0)
			if log := e.mailLog.String(); !strings.Contains(log, "relay=mx.remote.test [127.0.0.1]") && way.name == "mx" {
				t.Errorf("mail log does not name the MX:\n%s", log)
			}
		})
	}
}
