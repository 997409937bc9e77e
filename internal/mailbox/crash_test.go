package mailbox

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cabalmail/cabalmail/internal/blob"
	"github.com/cabalmail/cabalmail/internal/store/sqlite"
)

const crashChildEnv = "CABALMAIL_MAILBOX_CRASH_CHILD"

// TestCrashKeepsAcknowledgedAppends kills (SIGKILL) a process in the
// middle of concurrent appends and checks that every append it reported as
// done is in the store, with its body, after a restart.
func TestCrashKeepsAcknowledgedAppends(t *testing.T) {
	if dir := os.Getenv(crashChildEnv); dir != "" {
		crashChild(dir)
		return
	}
	if testing.Short() {
		t.Skip("starts a child process")
	}
	dir := t.TempDir()
	setup := openEnv(t, dir, nil)
	alice := setup.user(t, "alice")
	if _, err := setup.s.List(testCtx(t), alice); err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashKeepsAcknowledgedAppends$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	acked := map[uint32]string{}
	sc := bufio.NewScanner(out)
	for sc.Scan() && len(acked) < 60 {
		f := strings.Fields(sc.Text())
		if len(f) != 2 {
			continue
		}
		uid, err := strconv.ParseUint(f[0], 10, 32)
		if err != nil {
			t.Fatalf("child said %q", sc.Text())
		}
		acked[uint32(uid)] = f[1]
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	if len(acked) < 60 {
		t.Fatalf("child acknowledged only %d appends", len(acked))
	}

	after := openEnv(t, dir, nil)
	ctx := testCtx(t)
	v := after.selectBox(t, alice, "INBOX")
	present := map[uint32]bool{}
	for _, m := range v.Messages(v.UIDs()) {
		present[m.UID] = true
	}
	for uid, subject := range acked {
		if !present[uid] {
			t.Errorf("acknowledged UID %d lost in the crash", uid)
			continue
		}
		r, err := v.OpenBody(ctx, uid)
		if err != nil {
			t.Errorf("UID %d: body: %v", uid, err)
			continue
		}
		b, _ := io.ReadAll(r)
		r.Close()
		if !strings.Contains(string(b), "Subject: "+subject+"\r\n") {
			t.Errorf("UID %d: body is not message %s", uid, subject)
		}
	}
	t.Logf("%d acknowledged appends survived; %d messages in the mailbox", len(acked), len(present))
}

// crashChild appends forever from several goroutines, printing each
// acknowledged UID, until it is killed.
func crashChild(dir string) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, dir+"/meta.db")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	blobs, err := blob.OpenDir(dir + "/blobs")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	s, err := Open(ctx, Options{Store: db, Blobs: BlobsOf(blobs)})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	u, err := db.UserByName(ctx, "alice")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	var mu sync.Mutex
	for w := 0; w < 8; w++ {
		go func(w int) {
			for i := 0; ; i++ {
				subject := fmt.Sprintf("w%d-%d", w, i)
				r, err := s.Append(ctx, u.ID, "INBOX", strings.NewReader(msg(subject, strings.Repeat("body ", 200))), AppendOptions{})
				if err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(2)
				}
				mu.Lock()
				fmt.Printf("%d %s\n", r.UID, subject)
				mu.Unlock()
			}
		}(w)
	}
	time.Sleep(time.Minute)
	os.Exit(3)
}
