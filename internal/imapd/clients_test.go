package imapd

import (
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// needBinary skips the test when a Debian client is not installed
// (scripts/install-test-deps.sh installs them).
func needBinary(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s not installed", name)
	}
	return p
}

// systemPython is Debian's interpreter when present: a python3 found first
// on PATH may be a version manager's shim without the standard library we
// test against.
func systemPython(t *testing.T) string {
	t.Helper()
	if _, err := os.Stat("/usr/bin/python3"); err == nil {
		return "/usr/bin/python3"
	}
	return needBinary(t, "python3")
}

func TestPythonImaplib(t *testing.T) {
	python := systemPython(t)
	e := startEnv(t, envOptions{})
	host, port, _ := net.SplitHostPort(e.addr)
	out, err := exec.Command(python, "testdata/imaplib_client.py", host, port, testUser, testPassword).CombinedOutput()
	if err != nil {
		t.Fatalf("imaplib client: %v\n%s", err, out)
	}
}

func TestCurl(t *testing.T) {
	curl := needBinary(t, "curl")
	e := startEnv(t, envOptions{})
	r := e.login()
	r.appendMsg("INBOX", "", "Subject: for curl\r\n\r\ncurl body\r\n")
	base := "imap://" + e.addr
	run := func(args ...string) string {
		t.Helper()
		args = append([]string{"-sS", "--max-time", "20", "--user", testUser + ":" + testPassword}, args...)
		out, err := exec.Command(curl, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("curl %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	if out := run(base + "/"); !strings.Contains(out, "INBOX") {
		t.Errorf("curl LIST: %q", out)
	}
	if out := run(base + "/INBOX;UID=1"); !strings.Contains(out, "Subject: for curl") || !strings.Contains(out, "curl body") {
		t.Errorf("curl fetch: %q", out)
	}
	if out := run(base+"/INBOX", "-X", "SEARCH SUBJECT curl"); !strings.Contains(out, "SEARCH 1") {
		t.Errorf("curl SEARCH: %q", out)
	}
	if out := run(base+"/", "-X", "STATUS INBOX (MESSAGES)"); !strings.Contains(out, "MESSAGES 1") {
		t.Errorf("curl STATUS: %q", out)
	}
}
