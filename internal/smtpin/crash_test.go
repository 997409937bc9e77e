package smtpin

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cabalmail/cabalmail/internal/store/sqlite"
)

const crashDirEnv = "CABALMAIL_SMTPIN_CRASH_DIR"

// TestCrashServerProcess is the server half of TestCrashKeepsAcknowledged:
// run as a child process, it serves the data directory it is given and
// prints its address, until it is killed.
func TestCrashServerProcess(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		t.Skip("runs only as the child of TestCrashKeepsAcknowledged")
	}
	auth := fastDNSChecker(t)
	e := startTestEnv(t, dir, false, func(o *Options) { o.Auth = auth })
	fmt.Printf("ADDR %s\n", e.addr)
	select {}
}

// TestCrashKeepsAcknowledged kills the server with SIGKILL in the middle of
// a load run: every message whose 250 a client saw is in the mailbox after
// a restart (DESIGN.md §3, the durability rule).
func TestCrashKeepsAcknowledged(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test skipped in -short mode")
	}
	dir := t.TempDir()
	sq, err := sqlite.Open(context.Background(), filepath.Join(dir, "cabalmail.db"))
	if err != nil {
		t.Fatal(err)
	}
	seedStore(t, sq)
	if err := sq.Close(); err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashServerProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashDirEnv+"="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	sc := bufio.NewScanner(out)
	addr := ""
	for sc.Scan() {
		if a, ok := strings.CutPrefix(sc.Text(), "ADDR "); ok {
			addr = a
			break
		}
	}
	if addr == "" {
		t.Fatal("the server process did not start")
	}

	var (
		mu    sync.Mutex
		acked []string
		wg    sync.WaitGroup
		stop  = make(chan struct{})
	)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				subject := fmt.Sprintf("crash-%d-%d", g, i)
				if sendOne(addr, subject) {
					mu.Lock()
					acked = append(acked, subject)
					mu.Unlock()
				}
			}
		}()
	}
	time.Sleep(3 * time.Second)
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	close(stop)
	wg.Wait()
	_ = cmd.Wait()

	e := startTestEnv(t, dir, false, nil)
	stored := map[string]bool{}
	for _, m := range e.inbox("alice") {
		for _, line := range strings.Split(string(m), "\r\n") {
			if s, ok := strings.CutPrefix(line, "Subject: "); ok {
				stored[s] = true
			}
		}
	}
	if len(acked) < 10 {
		t.Fatalf("only %d messages acknowledged before the kill: the load did not run", len(acked))
	}
	missing := 0
	for _, s := range acked {
		if !stored[s] {
			missing++
			t.Errorf("acknowledged message %s is missing after the crash", s)
		}
	}
	t.Logf("%d acknowledged, %d stored after SIGKILL and restart, %d missing", len(acked), len(stored), missing)
}

// sendOne sends one message and reports whether the server said 250 to
// the end of data; any failure (the server was killed) is false.
func sendOne(addr, subject string) bool {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(c)
	expect := func(code string) bool {
		for {
			line, err := r.ReadString('\n')
			if err != nil || !strings.HasPrefix(line, code) {
				return false
			}
			if len(line) > 3 && line[3] == ' ' {
				return true
			}
		}
	}
	send := func(s string) bool { _, err := c.Write([]byte(s)); return err == nil }
	return expect("220") &&
		send("EHLO crash.example\r\n") && expect("250") &&
		send("MAIL FROM:<load@remote.example>\r\n") && expect("250") &&
		send("RCPT TO:<shop@x1.example.test>\r\n") && expect("250") &&
		send("DATA\r\n") && expect("354") &&
		send(testMessage(subject)+".\r\n") && expect("250")
}
