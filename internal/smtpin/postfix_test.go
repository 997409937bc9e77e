package smtpin

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cabalmail/cabalmail/internal/accounts"
	"github.com/cabalmail/cabalmail/internal/imapd"
	"github.com/cabalmail/cabalmail/internal/postfixtest"
)

// postfixInstance is a private Postfix from Debian, run from its own
// configuration directory with its queue in a temporary directory, that
// relays everything to our MX on loopback. It listens on no port.
type postfixInstance struct {
	t   *testing.T
	dir string
}

func needBinaries(t testing.TB, names ...string) {
	t.Helper()
	for _, n := range names {
		if _, err := exec.LookPath(n); err != nil {
			t.Skipf("%s not installed (scripts/install-test-deps.sh installs it)", n)
		}
	}
	if os.Geteuid() != 0 {
		t.Skip("running a private Postfix needs root")
	}
}

// worldTraversableTempDir makes a temporary directory the postfix user can
// reach.
func worldTraversableTempDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "cabalmail-postfix-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}

func startPostfix(t *testing.T, relay string) *postfixInstance {
	t.Helper()
	needBinaries(t, "postfix", "postconf", "sendmail", "postqueue")
	dir := worldTraversableTempDir(t)
	// A sending MTA only: master_service_disable = inet, no listener.
	pf, err := postfixtest.Setup(dir, nil, fmt.Sprintf(`master_service_disable = inet
myhostname = sender.remote.example
mydomain = remote.example
myorigin = remote.example
relayhost = [%[1]s]:%[2]s
smtp_tls_security_level = none
local_transport = error:local delivery is disabled
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 2s
smtp_connection_cache_on_demand = no
`, hostOf(relay), portOf(relay)))
	if errors.Is(err, postfixtest.ErrNoPostfix) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	p := &postfixInstance{t: t, dir: dir}
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

func hostOf(a string) string { h, _, _ := net.SplitHostPort(a); return h }
func portOf(a string) string { _, p, _ := net.SplitHostPort(a); return p }

func (p *postfixInstance) conf() string { return filepath.Join(p.dir, "conf") }

func (p *postfixInstance) run(name string, args ...string) string {
	p.t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		p.t.Fatalf("%s %s: %v\n%s\nmaillog:\n%s", name, strings.Join(args, " "), err, out, p.maillog())
	}
	return string(out)
}

// sendmail submits a message with Postfix's own sendmail command.
func (p *postfixInstance) sendmail(from, to, subject string) {
	p.t.Helper()
	cmd := exec.Command("sendmail", "-C", p.conf(), "-f", from, to)
	cmd.Stdin = strings.NewReader("From: " + from + "\nTo: " + to + "\nSubject: " + subject + "\n\nSent through Postfix.\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		p.t.Fatalf("sendmail: %v\n%s", err, out)
	}
}

func (p *postfixInstance) maillog() string {
	b, _ := os.ReadFile(filepath.Join(p.dir, "maillog"))
	return string(b)
}

func (p *postfixInstance) queue() string {
	out, _ := exec.Command("postqueue", "-c", p.conf(), "-p").CombinedOutput()
	return string(out)
}

func waitFor(t *testing.T, what string, d time.Duration, cond func() bool, diag func() string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s\n%s", what, diag())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestPostfixDelivers drives the MX with Postfix as the sending MTA: a
// message lands in the right INBOX and is readable over IMAP; an unknown
// address bounces with 5.1.1; with the store unavailable Postfix keeps the
// message queued on our 4xx and delivers it once the store is back.
func TestPostfixDelivers(t *testing.T) {
	needBinaries(t, "postfix", "python3")
	e := newTestEnv(t, nil)
	p := startPostfix(t, e.addr)

	p.sendmail("carol@remote.example", "shop@x1.example.test", "via postfix")
	waitFor(t, "delivery to alice", 30*time.Second, func() bool { return len(e.inbox("alice")) == 1 }, p.maillog)
	got := string(e.inbox("alice")[0])
	for _, want := range []string{"Return-Path: <carol@remote.example>", "Delivered-To: shop@x1.example.test", "Subject: via postfix", "Received: from sender.remote.example ([127.0.0.1])"} {
		if !strings.Contains(got, want) {
			t.Errorf("stored message lacks %q:\n%s", want, got)
		}
	}
	if n := len(e.inbox("bob")); n != 0 {
		t.Errorf("bob got %d messages", n)
	}
	readOverIMAP(t, e, "alice", "password-alice", "via postfix")

	// Unknown address: Postfix bounces it with our 5.1.1.
	p.sendmail("carol@remote.example", "nobody@x1.example.test", "to nobody")
	waitFor(t, "the bounce", 30*time.Second, func() bool {
		return strings.Contains(p.maillog(), "to=<nobody@x1.example.test>") && strings.Contains(p.maillog(), "dsn=5.1.1, status=bounced")
	}, p.maillog)

	// Store unavailable: 4xx, the message stays in Postfix's queue.
	e.st.down.Store(true)
	p.sendmail("carol@remote.example", "shop@x1.example.test", "while down")
	waitFor(t, "the deferral", 30*time.Second, func() bool {
		return strings.Contains(p.maillog(), "dsn=4.3.0, status=deferred")
	}, p.maillog)
	if q := p.queue(); !strings.Contains(q, "shop@x1.example.test") {
		t.Fatalf("message not queued in Postfix while our store is down:\n%s", q)
	}
	if n := len(e.inbox("alice")); n != 1 {
		t.Fatalf("alice has %d messages while the store is down", n)
	}
	e.st.down.Store(false)
	p.run("postqueue", "-c", p.conf(), "-f")
	waitFor(t, "delivery after recovery", 30*time.Second, func() bool { return len(e.inbox("alice")) == 2 }, p.maillog)
	waitFor(t, "an empty Postfix queue", 30*time.Second, func() bool { return strings.Contains(p.queue(), "Mail queue is empty") }, p.queue)
	t.Logf("Postfix's log:\n%s", p.maillog())
	if !strings.Contains(e.mailLog.String(), "to=<nobody@x1.example.test>") || !strings.Contains(e.mailLog.String(), "dsn=5.1.1, stat=User unknown") {
		t.Errorf("our mail log lacks the rejection:\n%s", e.mailLog.String())
	}
}

// readOverIMAP logs in with Python's imaplib through our IMAP server and
// checks the INBOX holds a message with subject.
func readOverIMAP(t *testing.T, e *testEnv, user, password, subject string) {
	t.Helper()
	srv, err := imapd.New(imapd.Options{Mailboxes: e.mb, Accounts: accounts.New(e.st), InsecureAuthOnLoopback: true, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.ServeListener(ctx, l, false) }()
	defer func() { cancel(); <-done }()
	script := `
import imaplib, sys
m = imaplib.IMAP4(sys.argv[1], int(sys.argv[2]))
m.login(sys.argv[3], sys.argv[4])
typ, data = m.select("INBOX")
assert typ == "OK", data
typ, data = m.fetch("1", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
assert typ == "OK", data
sys.stdout.write(data[0][1].decode())
m.logout()
`
	out, err := exec.Command("python3", "-c", script, hostOf(l.Addr().String()), portOf(l.Addr().String()), user, password).CombinedOutput()
	if err != nil {
		t.Fatalf("imaplib: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "Subject: "+subject) {
		t.Fatalf("IMAP fetch: %q", out)
	}
}
