package delivery

import (
	"bufio"
	"bytes"
	"math/rand/v2"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cabalmail/cabalmail/internal/smtptest"
)

// TestCrashLosesNothing kills a process that enqueues and delivers with
// SIGKILL at random moments (mid-enqueue, mid-delivery, mid-commit),
// restarts it, and finally lets it drain the queue: every message whose
// Enqueue returned reaches the relay at least once, and duplicates are
// bounded by the attempts in flight at the kills.
func TestCrashLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test builds and runs a program several times")
	}
	bin := filepath.Join(t.TempDir(), "crashdeliver")
	build := exec.Command("go", "build", "-o", bin, "./internal/crashdeliver")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build crashdeliver: %v\n%s", err, out)
	}
	srv, err := smtptest.Start(nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	dir := t.TempDir()

	var mu sync.Mutex
	acked := map[string]string{} // token → queue ID
	line := regexp.MustCompile(`^queued ([0-9a-f]{16}) ([0-9a-f]{16})$`)
	runOnce := func(n int, kill time.Duration, drain bool) string {
		args := []string{"-dir", dir, "-relay", srv.Addr, "-n", strconv.Itoa(n), "-lease", "1s"}
		if drain {
			args = append(args, "-drain")
		}
		cmd := exec.Command(bin, args...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		var last string
		readDone := make(chan struct{})
		go func() {
			defer close(readDone)
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				l := sc.Text()
				last = l
				if m := line.FindStringSubmatch(l); m != nil {
					mu.Lock()
					acked[m[1]] = m[2]
					mu.Unlock()
				}
			}
		}()
		if kill > 0 {
			time.Sleep(kill)
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			<-readDone
			cmd.Wait()
			return last
		}
		done := make(chan error, 1)
		go func() { <-readDone; done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("final run: %v\n%s", err, stderr.String())
			}
		case <-time.After(2 * time.Minute):
			cmd.Process.Kill()
			t.Fatalf("final run did not drain the queue\n%s", stderr.String())
		}
		return last
	}

	const kills = 6
	for i := 0; i < kills; i++ {
		// Slow replies now and then, so kills also land mid-DATA.
		if i%2 == 1 {
			srv.SetMode(smtptest.Slow)
			srv.SetDelay(5 * time.Millisecond)
		} else {
			srv.SetMode(smtptest.Accept)
		}
		runOnce(400, time.Duration(100+rand.IntN(600))*time.Millisecond, false)
	}
	srv.SetMode(smtptest.Accept)
	if last := runOnce(0, 0, true); last != "drained" {
		t.Fatalf("final run ended with %q, want drained", last)
	}

	received := map[string]int{}
	token := regexp.MustCompile(`X-Crash-Token: ([0-9a-f]{16})`)
	for _, m := range srv.Messages() {
		if tk := token.FindSubmatch(m.Data); tk != nil {
			received[string(tk[1])]++
		}
		if !bytes.Contains(m.Data, []byte(strings.Repeat("body line\r\n", 20))) {
			t.Errorf("a delivered body is damaged: %q", m.Data)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(acked) == 0 {
		t.Fatal("no message was acknowledged before the kills")
	}
	missing, dups := 0, 0
	for tk, id := range acked {
		switch n := received[tk]; {
		case n == 0:
			missing++
			if missing <= 5 {
				t.Errorf("acknowledged message %s (token %s) never delivered", id, tk)
			}
		case n > 1:
			dups += n - 1
		}
	}
	if missing > 0 {
		t.Errorf("%d of %d acknowledged messages lost", missing, len(acked))
	}
	// Duplicates come only from attempts in flight at a kill: at most the
	// runner's claimed messages (4 × Batch) per kill.
	if limit := kills * 4 * 200; dups > limit {
		t.Errorf("%d duplicates after %d kills, more than the %d messages that can be in flight", dups, kills, limit)
	}
	t.Logf("%d kills: %d messages acknowledged, %d received (%d distinct), %d duplicates", kills, len(acked),
		len(srv.Messages()), len(received), dups)
}
