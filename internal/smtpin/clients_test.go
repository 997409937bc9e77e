package smtpin

import (
	"os/exec"
	"strings"
	"testing"
)

// TestPythonSmtplib drives the server with Python's smtplib through every
// reply code of the tier (testdata/smtplib_codes.py).
func TestPythonSmtplib(t *testing.T) {
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 not installed (scripts/install-test-deps.sh installs it)")
	}
	e := newTestEnv(t, nil)
	out, err := exec.Command("python3", "testdata/smtplib_codes.py", hostOf(e.addr), portOf(e.addr)).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "all checks passed") {
		t.Fatalf("smtplib: %v\n%s", err, out)
	}
	if a, b := len(e.inbox("alice")), len(e.inbox("bob")); a != 2 || b != 1 {
		t.Fatalf("alice %d, bob %d messages; want 2 and 1", a, b)
	}
}

// TestSwaks sends with swaks: plain, pipelined, over STARTTLS, and the
// refusals, each checked on swaks's own transcript.
func TestSwaks(t *testing.T) {
	if _, err := exec.LookPath("swaks"); err != nil {
		t.Skip("swaks not installed (scripts/install-test-deps.sh installs it)")
	}
	e := newTestEnv(t, nil)
	swaks := func(args ...string) string {
		t.Helper()
		base := []string{"--server", hostOf(e.addr), "--port", portOf(e.addr), "--from", "sw@remote.example", "--helo", "swaks.remote.example", "--timeout", "30"}
		out, _ := exec.Command("swaks", append(base, args...)...).CombinedOutput()
		return string(out)
	}
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"plain", []string{"--to", "shop@x1.example.test"}, []string{"<-  250 2.0.0 delivered as "}},
		{"pipelined", []string{"--to", "family@home.example.test", "--pipeline"}, []string{"<-  250 2.0.0 delivered as "}},
		{"starttls", []string{"--to", "bank@x1.example.test", "--tls"}, []string{"<-  220 2.0.0 Ready to start TLS", "<~  250 2.0.0 delivered as "}},
		{"unknown", []string{"--to", "nobody@x1.example.test"}, []string{"<** 550 5.1.1 "}},
		{"suspended", []string{"--to", "paused@x2.example.test"}, []string{"<** 550 5.2.1 "}},
		{"relay", []string{"--to", "x@elsewhere.example"}, []string{"<** 550 5.7.1 "}},
	} {
		out := swaks(tc.args...)
		for _, w := range tc.want {
			if !strings.Contains(out, w) {
				t.Errorf("%s: transcript lacks %q:\n%s", tc.name, w, out)
			}
		}
	}
	if a, b := len(e.inbox("alice")), len(e.inbox("bob")); a != 3 || b != 1 {
		t.Fatalf("alice %d, bob %d messages; want 3 and 1", a, b)
	}
}
