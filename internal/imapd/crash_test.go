package imapd

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestAppendSurvivesKill checks the durability rule: a message whose APPEND
// was answered OK is there after the server is killed with SIGKILL right
// after the OK.
func TestAppendSurvivesKill(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and restarts a server")
	}
	bin := filepath.Join(t.TempDir(), "crashsrv")
	build := exec.Command("go", "build", "-o", bin, "./internal/crashsrv")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build crashsrv: %v\n%s", err, out)
	}
	data := t.TempDir()
	start := func() (*exec.Cmd, string) {
		cmd := exec.Command(bin, "-data", data, "-user", testUser, "-password", testPassword)
		var stderr strings.Builder
		cmd.Stderr = io.MultiWriter(os.Stderr, &stderr)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		line, err := bufio.NewReader(out).ReadString('\n')
		if err != nil {
			cmd.Process.Kill()
			cmd.Wait()
			if strings.Contains(stderr.String(), "not implemented yet") {
				t.Skip("mailbox store not available in this tree")
			}
			t.Fatalf("crashsrv did not start: %v", err)
		}
		return cmd, strings.TrimSpace(strings.TrimPrefix(line, "listening "))
	}
	const rounds = 5
	var subjects []string
	for i := 0; i < rounds; i++ {
		cmd, addr := start()
		e := &testEnv{t: t, addr: addr}
		r := e.login()
		subject := fmt.Sprintf("durable %d %d", i, time.Now().UnixNano())
		r.appendMsg("INBOX", "", "Subject: "+subject+"\r\n\r\nbody\r\n")
		subjects = append(subjects, subject)
		// Killed right after the OK: nothing gets a chance to flush.
		cmd.Process.Kill()
		cmd.Wait()
	}
	cmd, addr := start()
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	r := (&testEnv{t: t, addr: addr}).login()
	r.ok("SELECT INBOX")
	for _, s := range subjects {
		u := r.ok(fmt.Sprintf("SEARCH SUBJECT %q", s))
		if len(u) != 1 || u[0] == "* SEARCH" {
			t.Errorf("message %q lost after kill -9: %q", s, u)
		}
	}
}
