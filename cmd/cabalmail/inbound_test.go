package main

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"net/smtp"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func TestInboundTempfail(t *testing.T) {
	cfg := initData(t)
	if out := mustCLI(t, cfg, "", "inbound", "tempfail", "status"); out != "inbound tempfail: off\n" {
		t.Fatalf("status before: %q", out)
	}
	out := mustCLI(t, cfg, "", "inbound", "tempfail", "on", "--for", "4h")
	if !strings.HasPrefix(out, "inbound tempfail: on until ") {
		t.Fatalf("on --for 4h: %q", out)
	}
	if out := mustCLI(t, cfg, "", "inbound", "tempfail", "on"); out != "inbound tempfail: on (no end)\n" {
		t.Fatalf("on: %q", out)
	}
	if out := mustCLI(t, cfg, "", "inbound", "tempfail", "off"); out != "inbound tempfail: off\n" {
		t.Fatalf("off: %q", out)
	}
	for _, args := range [][]string{
		{"inbound"},
		{"inbound", "tempfail"},
		{"inbound", "tempfail", "maybe"},
		{"inbound", "tempfail", "on", "--for", "-1h"},
		{"inbound", "tempfail", "on", "--for", "soon"},
		{"inbound", "tempfail", "off", "--for", "1h"},
		{"inbound", "tempfail", "on", "extra"},
	} {
		r := cli(t, cfg, "", args...)
		if r.code != 2 || r.stderr == "" {
			t.Errorf("%v: want a usage error (status 2), got %d %q", args, r.code, r.stderr)
		}
	}
	// Nothing changed by the refused calls.
	if out := mustCLI(t, cfg, "", "inbound", "tempfail", "status"); out != "inbound tempfail: off\n" {
		t.Fatalf("status after bad calls: %q", out)
	}
}

// TestServeSMTPInTempfail runs `serve --roles smtp-in` on a dev data
// directory, delivers a message to the demo address, and flips the tempfail
// switch from the command line while it runs: the answers, the program log
// and the metric follow.
func TestServeSMTPInTempfail(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "dev")
	stopDev(t, runDevUntilReady(t, dir))
	cfg := filepath.Join(dir, "cabalmail.toml")
	mx, metricsAddr := freeAddr(t), freeAddr(t)
	b, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Replace(string(b), `"127.0.0.1:2525"`, `"`+mx+`"`, 1)
	text = strings.Replace(text, `"127.0.0.1:9325"`, `"`+metricsAddr+`"`, 1)
	if err := os.WriteFile(cfg, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(binary, "serve", "--roles", "smtp-in")
	cmd.Env = append(os.Environ(), "CABALMAIL_CONFIG="+cfg)
	var logs syncWriter
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGINT)
		_ = cmd.Wait()
	}()
	waitUntil(t, "the MX to listen", func() bool { return strings.Contains(logs.String(), "listening") }, logs.String)
	waitUntil(t, "the tempfail state at start", func() bool { return strings.Contains(logs.String(), "inbound tempfail is off") }, logs.String)

	rcpt := func(to string) string { return sendOne(t, mx, "someone@remote.example", to) }
	if got := rcpt("hello@welcome.example.test"); got != "250" {
		t.Fatalf("delivery to the demo address: %s", got)
	}
	if got := rcpt("nobody@welcome.example.test"); !strings.HasPrefix(got, "550 5.1.1") {
		t.Fatalf("unknown address: %s", got)
	}
	mustCLI(t, cfg, "", "inbound", "tempfail", "on", "--for", "1h")
	waitUntil(t, "the tempfail log line", func() bool { return strings.Contains(logs.String(), "inbound tempfail is ON") }, logs.String)
	if got := rcpt("nobody@welcome.example.test"); !strings.HasPrefix(got, "450 4.1.1") {
		t.Fatalf("unknown address under tempfail: %s", got)
	}
	resp, err := http.Get("http://" + metricsAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if !strings.Contains(string(body), `cabalmail_inbound_tempfail{tier="smtp-in"} 1`) {
		t.Errorf("metrics lack the tempfail gauge at 1:\n%s", body)
	}
	mustCLI(t, cfg, "", "inbound", "tempfail", "off")
	waitUntil(t, "the tempfail-off log line", func() bool { return strings.Count(logs.String(), "inbound tempfail is off") == 2 }, logs.String)
	if got := rcpt("nobody@welcome.example.test"); !strings.HasPrefix(got, "550 5.1.1") {
		t.Fatalf("unknown address after tempfail off: %s", got)
	}
	if !strings.Contains(logs.String(), "smtp-in") || !strings.Contains(logs.String(), "dsn=5.1.1, stat=User unknown") {
		t.Errorf("mail log lines missing from the output:\n%s", logs.String())
	}
}

type syncWriter struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *syncWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func waitUntil(t *testing.T, what string, cond func() bool, diag func() string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s\n%s", what, diag())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// sendOne sends a small message from from to to through the MX at mx and
// returns "250", or the refusal (of RCPT or of the data) as text.
func sendOne(t *testing.T, mx, from, to string) string {
	t.Helper()
	c, err := smtp.Dial(mx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Mail(from); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt(to); err != nil {
		return strings.ReplaceAll(err.Error(), `"`, "") // textproto quotes the message
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	_, _ = w.Write([]byte("Subject: hello\r\n\r\nhi\r\n"))
	if err := w.Close(); err != nil {
		return err.Error()
	}
	return "250"
}
