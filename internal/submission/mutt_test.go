package submission

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestMuttOverImplicitTLS sends with mutt, as a user's mail client would:
// smtps:// to the implicit-TLS port, AUTH with the account's password,
// trusting the server's self-signed certificate. mutt wants a terminal,
// so it runs inside a private tmux server.
func TestMuttOverImplicitTLS(t *testing.T) {
	mutt := needBinary(t, "mutt")
	tmux := needBinary(t, "tmux")
	e := newTestEnv(t, nil)
	dir := t.TempDir()

	send := func(name, from, password string) (status string, output string) {
		t.Helper()
		rc := fmt.Sprintf(`set smtp_url = "smtps://alice@%s/"
set smtp_pass = "%s"
set ssl_verify_host = no
set certificate_file = "%s"
set from = "Alice <%s>"
set use_from = yes
set envelope_from = yes
set hostname = "x1.example.test"
set copy = no
set record = ""
set charset = "utf-8"
set send_charset = "utf-8"
set smtp_authenticators = "plain:login"
`, e.tlsAddr, password, e.certPath, from)
		muttrc := filepath.Join(dir, name+".muttrc")
		body := filepath.Join(dir, name+".body")
		out := filepath.Join(dir, name+".out")
		statusFile := filepath.Join(dir, name+".status")
		if err := os.WriteFile(muttrc, []byte(rc), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(body, []byte("Sent by mutt.\n.a line with a leading dot\ncaf\u00e9\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		script := fmt.Sprintf("%s -n -F %s -s 'from mutt' friend@remote.test < %s > %s 2>&1; echo $? > %s",
			mutt, muttrc, body, out, statusFile)
		sock := filepath.Join(dir, "tmux.sock")
		cmd := exec.Command(tmux, "-S", sock, "new-session", "-d", "-x", "120", "-y", "40", "sh", "-c", script)
		cmd.Env = append(os.Environ(), "HOME="+dir, "TERM=xterm")
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("tmux: %v %s", err, b)
		}
		t.Cleanup(func() { _ = exec.Command(tmux, "-S", sock, "kill-server").Run() })
		deadline := time.Now().Add(30 * time.Second)
		for {
			if b, err := os.ReadFile(statusFile); err == nil && bytes.HasSuffix(b, []byte("\n")) {
				o, _ := os.ReadFile(out)
				return strings.TrimSpace(string(b)), string(o)
			}
			if time.Now().After(deadline) {
				pane, _ := exec.Command(tmux, "-S", sock, "capture-pane", "-p").CombinedOutput()
				t.Fatalf("mutt did not finish within 30s; screen:\n%s", pane)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	if status, out := send("ok", "shop@x1.example.test", "password-alice"); status != "0" {
		t.Fatalf("mutt exited %s:\n%s", status, out)
	}
	qs := e.queued()
	if len(qs) != 1 {
		t.Fatalf("queued %d messages, want 1", len(qs))
	}
	q := qs[0]
	if q.Sender != "shop@x1.example.test" || strings.Join(q.Recipients, ",") != "friend@remote.test" {
		t.Errorf("envelope = %s -> %v", q.Sender, q.Recipients)
	}
	for _, want := range []string{"\r\nFrom: Alice <shop@x1.example.test>\r\n", "\r\nSubject: from mutt\r\n", "Sent by mutt.\r\n.a line with a leading dot\r\n"} {
		if !strings.Contains(q.body, want) {
			t.Errorf("queued message lacks %q:\n%s", want, q.body)
		}
	}
	e.verifyDKIM(q, "x1.example.test")

	// An address alice does not hold: mutt reports the refusal and fails.
	status, out := send("foreign", "bobs@b1.example.test", "password-alice")
	if status == "0" || !strings.Contains(out, "5.7.1") {
		t.Errorf("mutt with a foreign From exited %s:\n%s", status, out)
	}
	t.Logf("mutt with a foreign From exited %s: %s", status, strings.TrimSpace(out))
	if qs := e.queued(); len(qs) != 0 {
		t.Errorf("the refused message was queued: %+v", qs)
	}
}
