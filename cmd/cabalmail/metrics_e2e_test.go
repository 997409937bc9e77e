package main

import (
	"bufio"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/smtp"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// fakeRelay is a remote mail server for the outbound tier: it accepts
// every recipient but those whose local part says "defer" (451 4.7.1) or
// "bounce" (550 5.1.1), and accepts the message.
func fakeRelay(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go serveFakeRelay(c)
		}
	}()
	return ln.Addr().String()
}

func serveFakeRelay(c net.Conn) {
	defer c.Close()
	br := bufio.NewReader(c)
	say := func(s string) { _, _ = io.WriteString(c, s+"\r\n") }
	say("220 relay.remote.test ESMTP")
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return
		}
		cmd := strings.ToUpper(strings.TrimSpace(line))
		switch {
		case strings.HasPrefix(cmd, "EHLO"), strings.HasPrefix(cmd, "HELO"):
			say("250 relay.remote.test")
		case strings.HasPrefix(cmd, "RCPT"):
			switch {
			case strings.Contains(cmd, "DEFER@"):
				say("451 4.7.1 greylisted, try again later")
			case strings.Contains(cmd, "BOUNCE@"):
				say("550 5.1.1 no such user")
			default:
				say("250 2.1.5 ok")
			}
		case cmd == "DATA":
			say("354 go ahead")
			for {
				l, err := br.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
			}
			say("250 2.0.0 queued as R1")
		case cmd == "QUIT":
			say("221 2.0.0 bye")
			return
		default: // MAIL, RSET, NOOP
			say("250 2.0.0 ok")
		}
	}
}

// TestServeMetricsCountMailEvents runs `serve --roles smtp-in,smtp-out` on a
// dev data directory, drives a scripted sequence through both tiers —
// accepted, unknown (5.1.1) and suspended (5.2.1) recipients at the MX; a
// sent, a deferred and a bounced recipient submitted and relayed, and the
// bounce's DSN delivered back to the sender —
// and checks that /metrics counts each mail-log line exactly once.
func TestServeMetricsCountMailEvents(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "dev")
	dev := runDevUntilReady(t, dir)
	password := dev.password
	stopDev(t, dev)
	cfg := filepath.Join(dir, "cabalmail.toml")
	mustCLI(t, cfg, "", "address", "new", "shop@store.example.test", "--user", "demo")
	mustCLI(t, cfg, "", "address", "suspend", "shop@store.example.test")

	mx, sub, subTLS, metricsAddr := freeAddr(t), freeAddr(t), freeAddr(t), freeAddr(t)
	relay := fakeRelay(t)
	b, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	for old, new := range map[string]string{
		`"127.0.0.1:2525"`: `"` + mx + `"`, `"127.0.0.1:2587"`: `"` + sub + `"`, `"127.0.0.1:2465"`: `"` + subTLS + `"`,
		`"127.0.0.1:9325"`: `"` + metricsAddr + `"`,
	} {
		if !strings.Contains(text, old) {
			t.Fatalf("dev config lacks %s", old)
		}
		text = strings.Replace(text, old, new, 1)
	}
	text += "\n[[outbound.route]]\ndomain = \"remote.test\"\nrelay = \"" + relay + "\"\ntls = \"none\"\n"
	if err := os.WriteFile(cfg, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command(binary, "serve", "--roles", "smtp-in,smtp-out")
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
	waitUntil(t, "the MX to listen", func() bool { return strings.Contains(logs.String(), "addr="+mx) }, logs.String)

	rcpt := func(to string) string { return sendOne(t, mx, "someone@sender.example", to) }
	for _, step := range []struct{ to, want string }{
		{"hello@welcome.example.test", "250"},
		{"hello@welcome.example.test", "250"},
		{"nobody@welcome.example.test", "550 5.1.1"},
		{"shop@store.example.test", "550 5.2.1"},
	} {
		if got := rcpt(step.to); !strings.HasPrefix(got, step.want) {
			t.Fatalf("RCPT %s: %q, want %s", step.to, got, step.want)
		}
	}

	submit(t, sub, "demo", password, "hello@welcome.example.test", "ok@remote.test", "defer@remote.test", "bounce@remote.test")
	waitUntil(t, "the outbound attempt in the mail log", func() bool {
		l := logs.String()
		return strings.Contains(l, "to=<ok@remote.test>") && strings.Contains(l, "to=<defer@remote.test>") && strings.Contains(l, "to=<bounce@remote.test>")
	}, logs.String)
	// The bounce earns the sender a DSN, delivered locally by the same tier.
	waitUntil(t, "the DSN's local delivery", func() bool {
		return regexp.MustCompile(`smtp-out [0-9a-f]+: to=<hello@welcome\.example\.test>.*stat=Sent`).MatchString(logs.String())
	}, logs.String)

	want := map[string]int{
		`tier="smtp-in",stat="sent",dsn_class="2"`:      2,
		`tier="smtp-in",stat="rejected",dsn_class="5"`:  2,
		`tier="smtp-in",stat="deferred",dsn_class="4"`:  0,
		`tier="smtp-out",stat="sent",dsn_class="2"`:     2, // ok@remote.test and the DSN
		`tier="smtp-out",stat="deferred",dsn_class="4"`: 1,
		`tier="smtp-out",stat="bounced",dsn_class="5"`:  1,
	}
	got := mailEventCounts(t, metricsAddr)
	for series, n := range want {
		if got[series] != n {
			t.Errorf("cabalmail_mail_events_total{%s} = %d, want %d", series, got[series], n)
		}
	}
	for series, n := range got {
		if _, ok := want[series]; !ok && n != 0 {
			t.Errorf("unexpected series cabalmail_mail_events_total{%s} = %d", series, n)
		}
	}
	// The counts are the mail log's lines, one for one.
	mailLines := regexp.MustCompile(`(?m) (smtp-in|smtp-out) [^ ]+: to=`).FindAllString(logs.String(), -1)
	total := 0
	for _, n := range got {
		total += n
	}
	if total != len(mailLines) {
		t.Errorf("%d events counted, %d mail-log lines:\n%s", total, len(mailLines), logs.String())
	}
	if t.Failed() {
		t.Logf("program and mail log:\n%s", logs.String())
	}
}

// submit sends one message through the submission listener as a user
// would: STARTTLS, AUTH PLAIN, then the envelope.
func submit(t *testing.T, addr, user, password, from string, to ...string) {
	t.Helper()
	c, err := smtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.StartTLS(&tls.Config{InsecureSkipVerify: true}); err != nil { // the dev certificate is self-signed
		t.Fatal(err)
	}
	host, _, _ := net.SplitHostPort(addr)
	if err := c.Auth(smtp.PlainAuth("", user, password, host)); err != nil {
		t.Fatal(err)
	}
	if err := c.Mail(from); err != nil {
		t.Fatal(err)
	}
	for _, r := range to {
		if err := c.Rcpt(r); err != nil {
			t.Fatal(err)
		}
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.WriteString(w, "From: <"+from+">\r\nTo: <ok@remote.test>\r\nSubject: out\r\n\r\nhi\r\n")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	_ = c.Quit()
}

// mailEventCounts scrapes /metrics and returns cabalmail_mail_events_total by
// its label set as exposed ("tier=...,stat=...,dsn_class=...").
func mailEventCounts(t *testing.T, addr string) map[string]int {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	re := regexp.MustCompile(`(?m)^cabalmail_mail_events_total\{dsn_class="(\d)",stat="(\w+)",tier="([\w-]+)"\} (\d+)$`)
	for _, m := range re.FindAllStringSubmatch(string(body), -1) {
		n := 0
		for _, d := range m[4] {
			n = n*10 + int(d-'0')
		}
		out[`tier="`+m[3]+`",stat="`+m[2]+`",dsn_class="`+m[1]+`"`] = n
	}
	if len(out) == 0 {
		t.Fatalf("no cabalmail_mail_events_total in /metrics:\n%s", body)
	}
	return out
}

// TestServeMonitorKeepsSecrets runs the monitor role with every secret of
// [monitor] set and sinks that fail, routes an alert through the
// Alertmanager webhook, and checks that the sinks received the tokens while
// the program log holds none of the secrets.
func TestServeMonitorKeepsSecrets(t *testing.T) {
	cfg := initData(t)
	const (
		ntfyToken     = "tk_ntfy_secret_value_1"
		pushoverToken = "pushover_app_secret_2"
		pushoverUser  = "pushover_user_secret_3"
		hookSecret    = "webhook_bearer_secret_4"
	)
	var mu sync.Mutex
	var received []string
	sinks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		received = append(received, r.URL.Path+" "+r.Header.Get("Authorization")+" "+string(b))
		mu.Unlock()
		http.Error(w, "unavailable", http.StatusServiceUnavailable)
	}))
	defer sinks.Close()
	hook, metricsAddr := freeAddr(t), freeAddr(t)
	b, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Replace(string(b), `probe_interval = "30s"`, `probe_interval = "1s"
ntfy_url = "`+sinks.URL+`"
ntfy_topic = "alerts"
ntfy_token = "`+ntfyToken+`"
pushover_url = "`+sinks.URL+`/1/messages.json"
pushover_token = "`+pushoverToken+`"
pushover_user = "`+pushoverUser+`"
webhook_listen = "`+hook+`"
webhook_secret = "`+hookSecret+`"`, 1)
	text = strings.Replace(text, `listen = "127.0.0.1:9325"`, `listen = "`+metricsAddr+`"`, 1)
	if text == string(b) || !strings.Contains(text, metricsAddr) {
		t.Fatal("the monitor or metrics keys of the written configuration moved")
	}
	if err := os.WriteFile(cfg, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(binary, "serve", "--roles", "monitor")
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
	waitUntil(t, "the webhook to listen", func() bool { return strings.Contains(logs.String(), "alert webhook listening") }, logs.String)

	post := func(auth string) int {
		body := `{"version":"4","status":"firing","alerts":[{"status":"firing",
			"labels":{"alertname":"BouncedSpike","severity":"critical"},
			"annotations":{"summary":"More than 15 permanent failures","runbook_url":"https://github.com/cabalmail/cabalmail/blob/main/docs/runbooks/BouncedSpike.md"}}]}`
		req, err := http.NewRequest(http.MethodPost, "http://"+hook+"/alerts", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", auth)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		return resp.StatusCode
	}
	if code := post("Bearer wrong-secret-of-some-length"); code != http.StatusUnauthorized {
		t.Errorf("wrong bearer: %d", code)
	}
	mu.Lock()
	n := len(received)
	mu.Unlock()
	if n != 0 {
		t.Errorf("a refused webhook call reached the sinks")
	}
	if code := post("Bearer " + hookSecret); code != http.StatusBadGateway {
		t.Errorf("alert with failing sinks: %d, want 502", code)
	}
	waitUntil(t, "the sink failure in the log", func() bool { return strings.Contains(logs.String(), "alert not delivered") }, logs.String)
	// The probes of the configured listeners (nothing serves them here)
	// ran and failed, with their errors logged nowhere but the store.
	waitUntil(t, "a probe round", func() bool {
		return strings.Contains(cli(t, cfg, "", "diagnose", "probes").stdout, "FAILING  smtp-in smtp 127.0.0.1:25")
	}, logs.String)

	mu.Lock()
	all := strings.Join(received, "\n")
	mu.Unlock()
	if !strings.Contains(all, "Bearer "+ntfyToken) || !strings.Contains(all, pushoverToken) || !strings.Contains(all, pushoverUser) {
		t.Errorf("the sinks did not receive the credentials:\n%s", all)
	}
	_ = cmd.Process.Signal(syscall.SIGINT)
	_ = cmd.Wait()
	for _, secret := range []string{ntfyToken, pushoverToken, pushoverUser, hookSecret} {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("the program log reveals %q:\n%s", secret, logs.String())
		}
	}
}
