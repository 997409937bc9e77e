package imapd

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// TestMbsync syncs INBOX to a local Maildir with isync's mbsync over
// implicit TLS, changes both sides (flags, an append on each side, a
// deletion made locally), syncs again and checks both sides agree.
func TestMbsync(t *testing.T) {
	mbsync := needBinary(t, "mbsync")
	e := startEnv(t, envOptions{tls: true})
	r := e.login()
	for _, subj := range []string{"alpha", "bravo", "charlie"} {
		r.appendMsg("INBOX", "", fmt.Sprintf("From: a@example.com\r\nSubject: %s\r\nMessage-ID: <%s@example.com>\r\n\r\nbody of %s\r\n", subj, subj, subj))
	}

	local := filepath.Join(e.dir, "maildir")
	state := filepath.Join(e.dir, "mbsync-state")
	for _, d := range []string{local, state} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	_, port, _ := strings.Cut(e.addr, ":")
	conf := filepath.Join(e.dir, "mbsyncrc")
	// isync 1.4 spells the TLS mode SSLType (1.5 renamed it TLSType and
	// still accepts the old name).
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(`IMAPAccount test
Host 127.0.0.1
Port %s
User %s
Pass "%s"
SSLType IMAPS
CertificateFile %s
AuthMechs LOGIN

IMAPStore remote
Account test

MaildirStore local
Path %s/
Inbox %s/INBOX
SubFolders Verbatim

Channel test
Far :remote:
Near :local:
Patterns INBOX
Create Both
Expunge Both
SyncState %s/
Sync All
`, port, testUser, testPassword, e.certFile, local, local, state)), 0o600); err != nil {
		t.Fatal(err)
	}
	sync := func() {
		t.Helper()
		out, err := exec.Command(mbsync, "-c", conf, "-a").CombinedOutput()
		if err != nil {
			t.Fatalf("mbsync: %v\n%s", err, out)
		}
	}

	sync()
	inbox := filepath.Join(local, "INBOX")
	files := maildirFiles(t, inbox)
	if got := subjectsOf(files); strings.Join(got, ",") != "alpha,bravo,charlie" {
		t.Fatalf("local Maildir after the first sync: %v", got)
	}

	// Local changes: alpha read, bravo trashed (mbsync turns the T flag
	// into \Deleted and, with Expunge Both, an expunge), delta written.
	for path, subj := range files {
		switch subj {
		case "alpha":
			setMaildirFlags(t, path, "S")
		case "bravo":
			setMaildirFlags(t, path, "T")
		}
	}
	if err := os.WriteFile(filepath.Join(inbox, "new", "1700000000.local1.host"),
		[]byte("From: b@example.com\r\nSubject: delta\r\nMessage-ID: <delta@example.com>\r\n\r\nwritten locally\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// Server changes: charlie flagged, echo appended.
	r.ok("SELECT INBOX")
	r.ok("UID STORE 3 +FLAGS (\\Flagged)")
	r.appendMsg("INBOX", "", "From: c@example.com\r\nSubject: echo\r\nMessage-ID: <echo@example.com>\r\n\r\nappended on the server\r\n")
	r.ok("LOGOUT")

	sync()

	// Local side.
	want := map[string]string{"alpha": "S", "charlie": "F", "delta": "", "echo": ""}
	files = maildirFiles(t, inbox)
	got := map[string]string{}
	for path, subj := range files {
		got[subj] = maildirFlags(path)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("local Maildir after the second sync: %v, want %v", got, want)
	}

	// Server side.
	r = e.login()
	r.ok("SELECT INBOX")
	lines := r.ok("UID FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
	server := map[string]string{}
	for _, l := range lines {
		subj := l[strings.LastIndex(l, "Subject: ")+len("Subject: "):]
		subj, _, _ = strings.Cut(subj, "\r")
		var flags []string
		for _, f := range []string{`\Seen`, `\Flagged`, `\Deleted`} {
			if strings.Contains(l, f) {
				flags = append(flags, f)
			}
		}
		server[subj] = strings.Join(flags, " ")
	}
	wantServer := map[string]string{"alpha": `\Seen`, "charlie": `\Flagged`, "delta": "", "echo": ""}
	if fmt.Sprint(server) != fmt.Sprint(wantServer) {
		t.Errorf("server INBOX after the second sync: %v (lines %q), want %v", server, lines, wantServer)
	}
}

// maildirFiles returns the messages of a Maildir folder: path to Subject.
func maildirFiles(t *testing.T, dir string) map[string]string {
	t.Helper()
	files := map[string]string{}
	for _, sub := range []string{"cur", "new"} {
		entries, err := os.ReadDir(filepath.Join(dir, sub))
		if err != nil {
			t.Fatal(err)
		}
		for _, de := range entries {
			p := filepath.Join(dir, sub, de.Name())
			data, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			subj := ""
			for _, l := range strings.Split(string(data), "\n") {
				if v, ok := strings.CutPrefix(l, "Subject: "); ok {
					subj = strings.TrimSpace(v)
					break
				}
			}
			files[p] = subj
		}
	}
	return files
}

func subjectsOf(files map[string]string) []string {
	var s []string
	for _, subj := range files {
		s = append(s, subj)
	}
	sort.Strings(s)
	return s
}

// maildirFlags returns the flag letters of a Maildir file name ("2,FS").
func maildirFlags(path string) string {
	_, info, ok := strings.Cut(filepath.Base(path), ":2,")
	if !ok {
		return ""
	}
	return info
}

// setMaildirFlags moves a message to cur/ with the given flag letters.
func setMaildirFlags(t *testing.T, path, flags string) {
	t.Helper()
	base, _, _ := strings.Cut(filepath.Base(path), ":2,")
	dst := filepath.Join(filepath.Dir(filepath.Dir(path)), "cur", base+":2,"+flags)
	if err := os.Rename(path, dst); err != nil {
		t.Fatal(err)
	}
}
