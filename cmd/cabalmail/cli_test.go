package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The CLI tests run the real binary, built once, against throwaway data
// directories.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "cabalmail-cli-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "cabalmail")
	out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "build: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type result struct {
	stdout, stderr string
	code           int
}

// cli runs the binary with CABALMAIL_CONFIG pointing at cfg.
func cli(t *testing.T, cfg, stdin string, args ...string) result {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), "CABALMAIL_CONFIG="+cfg)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run %v: %v", args, err)
	}
	return result{out.String(), errb.String(), code}
}

func mustCLI(t *testing.T, cfg, stdin string, args ...string) string {
	t.Helper()
	r := cli(t, cfg, stdin, args...)
	if r.code != 0 {
		t.Fatalf("cabalmail %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// initData makes a production-style data directory for example.com.
func initData(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "data")
	mustCLI(t, "", "", "init", "--data", dir, "--domain", "example.com", "--public-ip", "203.0.113.5")
	return filepath.Join(dir, "cabalmail.toml")
}

func TestInit(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	out := mustCLI(t, "", "", "init", "--data", dir, "--domain", "example.com", "--public-ip", "203.0.113.5", "--public-ip", "2001:db8::5")
	for _, want := range []string{
		"example.com.", "NS", "ns.mail.example.com.", // delegation
		"ns.mail.example.com.                     3600  IN A     203.0.113.5",
		"imap.mail.example.com.", "AAAA  2001:db8::5",
		"_dmarc.example.com.                      3600  IN CNAME _dmarc.mail.example.com.",
		`_dmarc.mail.example.com.                 3600  IN TXT   "v=DMARC1; p=reject; sp=reject; adkim=s; aspf=s; rua=mailto:dmarc-reports@mail-admin.example.com"`,
		"mail-admin.example.com.                  300   IN MX    10 smtp-in.mail.example.com.",
		`mail-admin.example.com.                  300   IN TXT   "v=spf1 include:mail.example.com ~all"`,
		`mail.example.com.                        3600  IN TXT   "v=spf1 ip4:203.0.113.5 ip6:2001:db8::5 -all"`,
		"cabal._domainkey.mail-admin.example.com. 300   IN CNAME cabal.example.com._domainkey.mail.example.com.",
		`cabal.example.com._domainkey.mail.example.com. 3600  IN TXT   "v=DKIM1; k=rsa; p=`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("init output lacks %q:\n%s", want, out)
		}
	}
	cfg, err := os.ReadFile(filepath.Join(dir, "cabalmail.toml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`listen = [":25"]`, `listen_tls = [":993"]`, "acme = true", `control_domain = "mail.example.com"`} {
		if !strings.Contains(string(cfg), want) {
			t.Errorf("config lacks %q", want)
		}
	}
	r := cli(t, "", "", "init", "--data", dir, "--domain", "example.com")
	if r.code == 0 || !strings.Contains(r.stderr, "already exists") {
		t.Errorf("second init: %+v", r)
	}
	for _, bad := range [][]string{
		{"init", "--domain", "example.com"},
		{"init", "--data", dir + "2", "--domain", "Example Com"},
		{"init", "--data", dir + "2", "--domain", "example.com", "--cert", "/nonexistent.pem"},
		{"init", "--data", dir + "2", "--domain", "example.com", "--public-ip", "300.1.1.1"},
		{"init", "--data", dir + "2", "--domain", "example.com", "--bogus"},
	} {
		r := cli(t, "", "", bad...)
		if r.code == 0 || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 || r.stderr == "" {
			t.Errorf("%v: want one error line and failure, got %+v", bad, r)
		}
		if _, err := os.Stat(dir + "2"); err == nil {
			t.Errorf("%v created the data directory", bad)
		}
	}
}

func TestUsers(t *testing.T) {
	cfg := initData(t)
	out := mustCLI(t, cfg, "", "user", "add", "alice", "--admin")
	if m := regexp.MustCompile(`(?m)^password: (\S{16,})$`).FindStringSubmatch(out); m == nil {
		t.Fatalf("generated password not printed:\n%s", out)
	}
	mustCLI(t, cfg, "correct horse battery\n", "user", "add", "bob", "--password-stdin")
	if r := cli(t, cfg, "", "user", "add", "bob"); r.code != 1 || !strings.Contains(r.stderr, "bob") {
		t.Errorf("duplicate user: %+v", r)
	}
	if r := cli(t, cfg, "short\n", "user", "add", "carol", "--password-stdin"); r.code == 0 {
		t.Errorf("short password accepted: %+v", r)
	}
	if r := cli(t, cfg, "", "user", "add", "Bad Name"); r.code == 0 {
		t.Errorf("bad name accepted: %+v", r)
	}
	mustCLI(t, cfg, "", "user", "disable", "bob")
	var users []struct {
		Name   string   `json:"name"`
		Admin  bool     `json:"admin"`
		Status string   `json:"status"`
		Grants []string `json:"grants"`
	}
	if err := json.Unmarshal([]byte(mustCLI(t, cfg, "", "user", "list", "--json")), &users); err != nil {
		t.Fatal(err)
	}
	if len(users) != 2 || users[0].Name != "alice" || !users[0].Admin || users[1].Status != "disabled" {
		t.Errorf("user list: %+v", users)
	}
	mustCLI(t, cfg, "", "user", "enable", "bob")
	mustCLI(t, cfg, "", "user", "grant", "bob", "example.com")
	if r := cli(t, cfg, "", "user", "grant", "bob", "nope.test"); r.code == 0 {
		t.Errorf("grant of unknown apex: %+v", r)
	}
	tok := strings.TrimSpace(mustCLI(t, cfg, "", "user", "token", "bob"))
	if !strings.HasPrefix(tok, "cm_") || len(tok) < 40 {
		t.Errorf("token %q", tok)
	}
	out = mustCLI(t, cfg, "", "user", "list")
	if !strings.Contains(out, "bob") || !strings.Contains(out, "example.com") {
		t.Errorf("user list table:\n%s", out)
	}
	mustCLI(t, cfg, "another good password\n", "user", "passwd", "bob", "--password-stdin")
	if r := cli(t, cfg, "", "user", "delete", "nobody"); r.code != 1 {
		t.Errorf("delete unknown user: %+v", r)
	}
	if r := cli(t, cfg, "", "user", "frob", "x"); r.code != 2 {
		t.Errorf("unknown user command: %+v", r)
	}
}

func TestAddresses(t *testing.T) {
	cfg := initData(t)
	mustCLI(t, cfg, "", "user", "add", "alice")
	mustCLI(t, cfg, "", "user", "add", "bob")
	addr := strings.TrimSpace(mustCLI(t, cfg, "", "address", "new", "Dentist@X7K2.example.com", "--user", "alice", "--comment", "the dentist"))
	if addr != "dentist@x7k2.example.com" {
		t.Errorf("created %q", addr)
	}
	shared := strings.TrimSpace(mustCLI(t, cfg, "", "address", "new", "school@kids.example.com", "--user", "alice,bob"))
	random := strings.TrimSpace(mustCLI(t, cfg, "", "address", "new", "--random", "--apex", "example.com", "--user", "bob"))
	if !regexp.MustCompile(`^[a-z0-9]{8}@[a-z][a-z0-9]{3}\.example\.com$`).MatchString(random) {
		t.Errorf("random address %q", random)
	}
	before := mustCLI(t, cfg, "", "address", "list", "--json")

	bad := []struct {
		args []string
		want string
	}{
		{[]string{"address", "new", "x@y.nope.test", "--user", "alice"}, "not configured"},
		{[]string{"address", "new", "x@mail-admin.example.com", "--user", "alice"}, "reserved"},
		{[]string{"address", "new", "x@mail.example.com", "--user", "alice"}, "reserved"},
		{[]string{"address", "new", "a..b@sub.example.com", "--user", "alice"}, "a..b"},
		{[]string{"address", "new", "a b@sub.example.com", "--user", "alice"}, "whitespace"},
		{[]string{"address", "new", "x@example.com", "--user", "alice"}, "example.com"},
		{[]string{"address", "new", "x@-bad.example.com", "--user", "alice"}, "-bad"},
		{[]string{"address", "new", "dentist@x7k2.example.com", "--user", "bob"}, "exists"},
		{[]string{"address", "new", "y@sub.example.com", "--user", "nobody"}, "nobody"},
		{[]string{"address", "new", "y@sub.example.com"}, "--user"},
		{[]string{"address", "revoke", "ghost@sub.example.com"}, "ghost@sub.example.com"},
		{[]string{"address", "suspend", "not-an-address"}, "not-an-address"},
	}
	for _, b := range bad {
		r := cli(t, cfg, "", b.args...)
		if r.code == 0 {
			t.Errorf("%v succeeded: %s", b.args, r.stdout)
			continue
		}
		if lines := strings.Split(strings.TrimSpace(r.stderr), "\n"); len(lines) != 1 || !strings.Contains(r.stderr, b.want) {
			t.Errorf("%v: stderr %q, want one line containing %q", b.args, r.stderr, b.want)
		}
	}
	if after := mustCLI(t, cfg, "", "address", "list", "--json"); after != before {
		t.Errorf("bad input changed the store:\nbefore %s\nafter %s", before, after)
	}

	mustCLI(t, cfg, "", "address", "suspend", addr)
	records := mustCLI(t, cfg, "", "domain", "records", "example.com")
	if strings.Contains(records, "x7k2.example.com.") {
		t.Errorf("suspended subdomain still has records:\n%s", records)
	}
	if !strings.Contains(records, "kids.example.com.") {
		t.Errorf("active subdomain has no records:\n%s", records)
	}
	mustCLI(t, cfg, "", "address", "reinstate", addr)
	if !strings.Contains(mustCLI(t, cfg, "", "domain", "records"), "x7k2.example.com.") {
		t.Errorf("reinstated subdomain has no records")
	}

	var list []struct {
		Address string `json:"address"`
		State   string `json:"state"`
		Holders []struct {
			User    string `json:"user"`
			Comment string `json:"comment"`
		} `json:"holders"`
	}
	if err := json.Unmarshal([]byte(mustCLI(t, cfg, "", "address", "list", "--user", "bob", "--json")), &list); err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 {
		t.Fatalf("bob holds %+v", list)
	}
	for _, a := range list {
		if a.Address == shared && len(a.Holders) != 2 {
			t.Errorf("shared address holders: %+v", a.Holders)
		}
	}
	mustCLI(t, cfg, "", "address", "revoke", addr)
	if strings.Contains(mustCLI(t, cfg, "", "address", "list"), addr) {
		t.Errorf("revoked address still listed")
	}
	if r := cli(t, cfg, "", "address", "reinstate", addr); r.code == 0 {
		t.Errorf("reinstating a revoked address succeeded")
	}
	// Deleting a user revokes the addresses nobody else holds.
	out := mustCLI(t, cfg, "", "user", "delete", "bob")
	if !strings.Contains(out, random) || strings.Contains(out, shared) {
		t.Errorf("user delete output:\n%s", out)
	}
}

func TestDomains(t *testing.T) {
	cfg := initData(t)
	out := mustCLI(t, cfg, "", "domain", "add", "family.test")
	if !strings.Contains(out, "family.test.") || !strings.Contains(out, "NS") {
		t.Errorf("domain add output:\n%s", out)
	}
	for _, bad := range []string{"family.test", "nodot", "UPPER.test", "bad_label.test", "1.2.3.4"} {
		if r := cli(t, cfg, "", "domain", "add", bad); r.code == 0 {
			t.Errorf("domain add %q succeeded", bad)
		}
	}
	var list []struct{ Apex string }
	if err := json.Unmarshal([]byte(mustCLI(t, cfg, "", "domain", "list", "--json")), &list); err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].Apex != "example.com" || list[1].Apex != "family.test" {
		t.Errorf("domain list: %+v", list)
	}
	if r := cli(t, cfg, "", "domain", "records", "nope.test"); r.code != 1 || !strings.Contains(r.stderr, "nope.test") {
		t.Errorf("records of unknown apex: %+v", r)
	}
}

func TestBadConfig(t *testing.T) {
	cfg := initData(t)
	text, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	broken := filepath.Join(filepath.Dir(cfg), "broken.toml")
	os.WriteFile(broken, append(text, []byte("\n[imap]\nlisten = [\"127.0.0.1:1\"]\n")...), 0o600)
	r := cli(t, broken, "", "user", "list")
	if r.code != 1 || !regexp.MustCompile(`line \d+: `).MatchString(r.stderr) || !strings.Contains(r.stderr, "imap") {
		t.Errorf("duplicate table: %+v", r)
	}
	unknown := filepath.Join(filepath.Dir(cfg), "unknown.toml")
	os.WriteFile(unknown, []byte(strings.Replace(string(text), "[web]", "[web]\nport = 80", 1)), 0o600)
	r = cli(t, unknown, "", "address", "list")
	if r.code != 1 || !regexp.MustCompile(`line \d+: unknown key web.port`).MatchString(r.stderr) {
		t.Errorf("unknown key: %+v", r)
	}
	r = cli(t, filepath.Join(t.TempDir(), "none.toml"), "", "user", "list")
	if r.code != 1 || !strings.Contains(r.stderr, "does not exist") {
		t.Errorf("missing config: %+v", r)
	}
	// --config wins over the environment, before or after the command.
	if r := cli(t, unknown, "", "--config", cfg, "user", "list"); r.code != 0 {
		t.Errorf("--config before the command: %+v", r)
	}
	if r := cli(t, unknown, "", "user", "list", "--config", cfg); r.code != 0 {
		t.Errorf("--config after the command: %+v", r)
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{{}, {"frobnicate"}, {"user"}, {"address", "list", "extra"}, {"version", "x"}, {"address", "new", "--random", "--user", "a"}} {
		r := cli(t, "/nonexistent.toml", "", args...)
		if r.code != 2 {
			t.Errorf("%v: exit %d, want 2 (%s)", args, r.code, r.stderr)
		}
	}
	if out := mustCLI(t, "", "", "version"); !strings.HasPrefix(out, "cabalmail ") {
		t.Errorf("version: %q", out)
	}
}

// TestDev runs `cabalmail dev`, uses the CLI against its store while it
// runs, stops it with SIGINT and starts it again on the same data.
func TestDev(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "dev")
	first := runDevUntilReady(t, dir)
	cfg := filepath.Join(dir, "cabalmail.toml")
	out := mustCLI(t, cfg, "", "address", "list")
	if !strings.Contains(out, "hello@welcome.example.test") {
		t.Errorf("demo address missing:\n%s", out)
	}
	mustCLI(t, cfg, "", "address", "new", "shop@store.example.test", "--user", "demo")
	stopDev(t, first)
	for _, f := range []string{"cabalmail.toml", "tls/cert.pem", "tls/key.pem", "cabalmail.db"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("dev did not create %s: %v", f, err)
		}
	}
	second := runDevUntilReady(t, dir)
	if first.password != second.password {
		t.Errorf("second run changed the demo password")
	}
	stopDev(t, second)
	if !strings.Contains(mustCLI(t, cfg, "", "address", "list"), "shop@store.example.test") {
		t.Errorf("data not reused")
	}
}

type devProc struct {
	cmd      *exec.Cmd
	password string
	done     chan error
	stderr   *bytes.Buffer
}

func runDevUntilReady(t *testing.T, dir string) *devProc {
	t.Helper()
	cmd := exec.Command(binary, "dev", "--data", dir)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &devProc{cmd: cmd, done: make(chan error, 1), stderr: &bytes.Buffer{}}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		var all strings.Builder
		for sc.Scan() {
			all.WriteString(sc.Text() + "\n")
			if strings.HasPrefix(sc.Text(), "Press Ctrl-C") {
				ready <- all.String()
			}
		}
		p.done <- cmd.Wait()
	}()
	select {
	case out := <-ready:
		m := regexp.MustCompile(`password "([^"]+)"`).FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("no demo login in:\n%s", out)
		}
		p.password = m[1]
		for _, want := range []string{"metrics", "http://127.0.0.1:9325/metrics"} {
			if !strings.Contains(out, want) {
				t.Errorf("dev summary lacks %q:\n%s", want, out)
			}
		}
	case err := <-p.done:
		t.Fatalf("dev exited early: %v\n%s", err, p.stderr)
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("dev not ready\n%s", p.stderr)
	}
	return p
}

func stopDev(t *testing.T, p *devProc) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.done:
		if err != nil {
			t.Fatalf("dev did not stop cleanly: %v\n%s", err, p.stderr)
		}
	case <-time.After(30 * time.Second):
		// SIGQUIT makes the Go runtime print every goroutine: the report
		// then shows which role did not stop.
		_ = p.cmd.Process.Signal(syscall.SIGQUIT)
		select {
		case <-p.done:
		case <-time.After(5 * time.Second):
			p.cmd.Process.Kill()
			<-p.done
		}
		t.Fatalf("dev did not stop on SIGINT\n%s", p.stderr)
	}
}
