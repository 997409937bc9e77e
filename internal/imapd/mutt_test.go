package imapd

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestMutt drives mutt in a tmux session over implicit TLS: the index
// lists the delivered subjects, a message opens with its body, and a
// deletion synced with '$' reaches the server.
func TestMutt(t *testing.T) {
	mutt := needBinary(t, "mutt")
	tmux := needBinary(t, "tmux")
	e := startEnv(t, envOptions{tls: true})
	r := e.login()
	subjects := []string{"Quarterly figures", "Lunch on Friday", "Server upgrade notes"}
	for i, subj := range subjects {
		r.appendMsg("INBOX", "", fmt.Sprintf("Date: Mon, 2 Jan 2006 15:0%d:00 +0000\r\nFrom: Bob <bob@example.com>\r\nTo: alice@example.com\r\nSubject: %s\r\nMessage-ID: <m%d@example.com>\r\n\r\nThe body of message number %d.\r\n", i, subj, i, i))
	}
	r.ok("LOGOUT")

	home := filepath.Join(e.dir, "home")
	if err := os.MkdirAll(home, 0o700); err != nil {
		t.Fatal(err)
	}
	// mutt trusts the certificates in certificate_file: pre-seed it with
	// ours, as a user who accepted it once would have.
	pem, err := os.ReadFile(e.certFile)
	if err != nil {
		t.Fatal(err)
	}
	certs := filepath.Join(home, "mutt_certificates")
	if err := os.WriteFile(certs, pem, 0o600); err != nil {
		t.Fatal(err)
	}
	muttrc := filepath.Join(home, "muttrc")
	if err := os.WriteFile(muttrc, []byte(fmt.Sprintf(`set folder="imaps://%s@%s/"
set spoolfile="+INBOX"
set imap_pass="%s"
set certificate_file="%s"
set sort=date
set delete=yes
set quit=yes
set confirmappend=no
set move=no
set record=""
set mail_check=1
set timeout=1
set imap_check_subscribed=no
set header_cache=""
set message_cachedir=""
set pager_stop=yes
set wait_key=no
`, testUser, e.addr, testPassword, certs)), 0o600); err != nil {
		t.Fatal(err)
	}

	sock := filepath.Join(e.dir, "tmux.sock")
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(tmux, append([]string{"-S", sock}, args...)...)
		cmd.Env = append(os.Environ(), "HOME="+home, "TERM=xterm")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("tmux %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	run("new-session", "-d", "-s", "mutt", "-x", "160", "-y", "40",
		"env", "HOME="+home, "TERM=xterm", mutt, "-n", "-F", muttrc)
	t.Cleanup(func() {
		// Ends only the tmux server this test started, by its socket.
		exec.Command(tmux, "-S", sock, "kill-server").Run()
	})
	screen := func() string { return run("capture-pane", "-p", "-t", "mutt") }
	waitFor := func(what string, ok func(string) bool) string {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			s := screen()
			if ok(s) {
				return s
			}
			if time.Now().After(deadline) {
				t.Fatalf("waiting for %s; screen:\n%s", what, s)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	containsAll := func(parts ...string) func(string) bool {
		return func(s string) bool {
			for _, p := range parts {
				if !strings.Contains(s, p) {
					return false
				}
			}
			return true
		}
	}

	waitFor("the index", containsAll(subjects...))
	// Sorted by date, the cursor is on the oldest: message 0.
	run("send-keys", "-t", "mutt", "Enter")
	waitFor("message 0 in the pager", containsAll("Subject: Quarterly figures", "The body of message number 0."))
	run("send-keys", "-t", "mutt", "q")
	waitFor("the index again", containsAll(subjects...))
	run("send-keys", "-t", "mutt", "d")
	run("send-keys", "-t", "mutt", "$")
	waitFor("the deletion synced", func(s string) bool {
		return !strings.Contains(s, "Quarterly figures") && strings.Contains(s, "Lunch on Friday")
	})

	r = e.login()
	r.ok("EXAMINE INBOX")
	lines := r.ok("UID FETCH 1:* (BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
	joined := strings.Join(lines, "\n")
	if strings.Contains(joined, "Quarterly figures") || !strings.Contains(joined, "Lunch on Friday") || !strings.Contains(joined, "Server upgrade notes") {
		t.Errorf("server INBOX after mutt deleted message 0:\n%s", joined)
	}
	run("send-keys", "-t", "mutt", "q")
}
