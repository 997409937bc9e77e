package submission

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// needBinary skips the test when a third-party client is not installed
// (scripts/install-test-deps.sh installs them; CI has them all).
func needBinary(t *testing.T, path string) string {
	t.Helper()
	p, err := exec.LookPath(path)
	if err != nil {
		t.Skipf("%s is not installed", path)
	}
	return p
}

// TestSwaksSTARTTLS submits with swaks over STARTTLS and AUTH PLAIN, as a
// user's script would.
func TestSwaksSTARTTLS(t *testing.T) {
	swaks := needBinary(t, "swaks")
	if exec.Command("perl", "-MNet::SSLeay", "-e", "1").Run() != nil {
		t.Skip("swaks needs Net::SSLeay for TLS: libnet-ssleay-perl is not installed")
	}
	e := newTestEnv(t, nil)
	out, err := exec.Command(swaks, "--server", e.addr, "--tls", "--auth", "PLAIN",
		"--auth-user", "alice", "--auth-password", "password-alice",
		"--from", "shop@x1.example.test", "--to", "friend@remote.test",
		"--header", "From: Alice <shop@x1.example.test>", "--header", "Bcc: hidden@remote.test",
		"--body", "sent by swaks").CombinedOutput()
	if err != nil {
		t.Fatalf("swaks: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "<~  250 2.0.0 queued as ") {
		t.Fatalf("swaks transcript lacks the queued reply:\n%s", out)
	}
	qs := e.queued()
	if len(qs) != 1 || !strings.Contains(qs[0].body, "sent by swaks") || strings.Contains(qs[0].body, "hidden@") {
		t.Fatalf("queued: %+v", qs)
	}
	e.verifyDKIM(qs[0], "x1.example.test")

	// A wrong password: swaks reports the 535 and fails.
	out, err = exec.Command(swaks, "--server", e.addr, "--tls", "--auth", "LOGIN",
		"--auth-user", "alice", "--auth-password", "wrong",
		"--from", "shop@x1.example.test", "--to", "friend@remote.test").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "535 5.7.8") {
		t.Fatalf("swaks with a wrong password: %v\n%s", err, out)
	}
}

// TestPythonSmtplibImplicitTLS submits with Python's smtplib over the
// implicit-TLS port, and sees a foreign sender refused by name.
func TestPythonSmtplibImplicitTLS(t *testing.T) {
	py := needBinary(t, "/usr/bin/python3")
	e := newTestEnv(t, nil)
	host, port, _ := strings.Cut(e.tlsAddr, ":")
	script := `
import smtplib, ssl, sys
from email.message import EmailMessage
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
m = EmailMessage()
m["From"] = "Family <family@home.example.test>"
m["To"] = "x@remote.test"
m["Subject"] = "from smtplib"
m.set_content("caf\u00e9 au lait\n")
with smtplib.SMTP_SSL(sys.argv[1], int(sys.argv[2]), context=ctx) as s:
    s.login("bob", "password-bob")
    s.send_message(m)
    try:
        s.sendmail("shop@x1.example.test", ["x@remote.test"], "From: shop@x1.example.test\r\n\r\nx\r\n")
    except smtplib.SMTPSenderRefused as e:
        print("refused", e.smtp_code, e.smtp_error.decode())
`
	cmd := exec.Command(py, "-c", script, host, port)
	cmd.Env = append(os.Environ(), "PYTHONIOENCODING=utf-8")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("python: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "refused 550 5.7.1 sender <shop@x1.example.test> is not one of your addresses") {
		t.Errorf("foreign sender not refused by name:\n%s", out)
	}
	qs := e.queued()
	if len(qs) != 1 || !strings.Contains(qs[0].body, "Subject: from smtplib") {
		t.Fatalf("queued: %+v", qs)
	}
	e.verifyDKIM(qs[0], "home.example.test")
}
