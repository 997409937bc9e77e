package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/cabalmail/cabalmail/internal/accounts"
	"github.com/cabalmail/cabalmail/internal/benchutil"
)

// dovecotUID is the system user Dovecot's mail processes run as: Dovecot
// refuses root, and nobody exists everywhere.
const dovecotUID = 65534

// startDovecot writes a throwaway configuration in dir, fills the user's
// Maildir INBOX with n generated messages by writing files directly, and
// starts dovecot -F in the foreground. It returns the listen address and
// the running command.
func startDovecot(dir string, port, n int, g *generator) (string, *exec.Cmd, error) {
	mail := filepath.Join(dir, "mail", benchUser)
	for _, d := range []string{"run", "state", "home", "mail/" + benchUser + "/cur", "mail/" + benchUser + "/new", "mail/" + benchUser + "/tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return "", nil, err
		}
	}
	for i := range n {
		msg, date := g.message(i)
		name := fmt.Sprintf("%d.M%dP1.bench,S=%d:2,", date.Unix(), i, len(msg))
		p := filepath.Join(mail, "cur", name)
		if err := os.WriteFile(p, msg, 0o600); err != nil {
			return "", nil, err
		}
		// Dovecot takes the received date from the file's mtime.
		if err := os.Chtimes(p, date, date); err != nil {
			return "", nil, err
		}
	}
	if err := exec.Command("chown", "-R", fmt.Sprintf("%d:%d", dovecotUID, dovecotUID), filepath.Join(dir, "mail"), filepath.Join(dir, "home")).Run(); err != nil {
		return "", nil, fmt.Errorf("chown: %w", err)
	}
	// The password is checked with the same Argon2id hash and parameters
	// on both servers (Dovecot verifies it with libsodium), so a LOGIN
	// costs both the same and the commands timed right after it start
	// from the same state of the machine.
	hash, err := accounts.HashPassword(benchPassword)
	if err != nil {
		return "", nil, err
	}
	passwd := fmt.Sprintf("%s:{ARGON2ID}%s:%d:%d::%s::\n", benchUser, hash, dovecotUID, dovecotUID, filepath.Join(dir, "home"))
	if err := os.WriteFile(filepath.Join(dir, "passwd"), []byte(passwd), 0o644); err != nil {
		return "", nil, err
	}
	conf := fmt.Sprintf(`base_dir = %[1]s/run
state_dir = %[1]s/state
log_path = %[1]s/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:%[1]s/mail/%%u
first_valid_uid = %[3]d
mail_max_userip_connections = 5000
default_process_limit = 5000
default_client_limit = 10000
default_vsz_limit = 1G
passdb {
  driver = passwd-file
  args = %[1]s/passwd
}
userdb {
  driver = passwd-file
  args = %[1]s/passwd
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = %[2]d
  }
  inet_listener imaps {
    port = 0
  }
  # "High-performance" login mode: a few login processes serve many
  # connections, as a busy installation would run it.
  service_count = 0
  process_min_avail = 2
  client_limit = 5000
}
service imap {
  process_limit = 5000
}
service anvil {
  client_limit = 12000
}
`, dir, port, dovecotUID)
	cf := filepath.Join(dir, "dovecot.conf")
	if err := os.WriteFile(cf, []byte(conf), 0o644); err != nil {
		return "", nil, err
	}
	cmd := exec.Command("dovecot", "-F", "-c", cf)
	out, err := os.Create(filepath.Join(dir, "dovecot.stderr"))
	if err != nil {
		return "", nil, err
	}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return "", nil, fmt.Errorf("start dovecot: %w", err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	if err := waitListening(addr, 20*time.Second); err != nil {
		cmd.Process.Kill()
		log, _ := os.ReadFile(filepath.Join(dir, "dovecot.log"))
		return "", nil, fmt.Errorf("dovecot did not start: %w\n%s", err, log)
	}
	return addr, cmd, nil
}

// treeMemory sums VmRSS and Pss (KiB) over a process and all its
// descendants: Dovecot serves each IMAP connection in its own process.
func treeMemory(root int) (rssKiB, pssKiB int64) {
	for _, pid := range tree(root) {
		rssKiB += procField(fmt.Sprintf("/proc/%d/status", pid), "VmRSS:")
		pssKiB += procField(fmt.Sprintf("/proc/%d/smaps_rollup", pid), "Pss:")
	}
	return rssKiB, pssKiB
}

// treeCPU sums the CPU time (user and system, in clock ticks) of root and
// its descendants.
func treeCPU(root int) int64 {
	var ticks int64
	for _, pid := range tree(root) {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		s := string(data)
		// After the command name: state(0) ppid(1) ... utime(11) stime(12).
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) < 13 {
			continue
		}
		u, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		ticks += u + st
	}
	return ticks
}

// tree returns root and its descendants.
func tree(root int) []int {
	children := map[int][]int{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		data, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// The fields after the parenthesised command name: state ppid ...
		s := string(data)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) < 2 {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		children[ppid] = append(children[ppid], pid)
	}
	var out []int
	stack := []int{root}
	for len(stack) > 0 {
		pid := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		out = append(out, pid)
		stack = append(stack, children[pid]...)
	}
	return out
}

// settle waits, at most a minute, until the server (root and its
// descendants) has gone a quarter of a second using under 3% of a CPU and
// the whole machine has been at least 90% idle meanwhile: background work
// its first SELECT started (our header cache, Dovecot's index writes) and
// the kernel's writeback of what the fill wrote then no longer compete
// with the timed commands, which measure the steady state of both servers
// alike. It starts with sync(2) and a garbage collection of this client,
// so neither side's timings carry the fill's leftovers.
func settle(name string, root int) {
	syscall.Sync()
	runtime.GC()
	start := time.Now()
	t0 := treeCPU(root)
	prev := t0
	busy0, total0 := benchutil.MachineTicks()
	for time.Since(start) < time.Minute {
		time.Sleep(250 * time.Millisecond)
		t := treeCPU(root)
		busy, total := benchutil.MachineTicks()
		if t-prev < 1 && benchutil.Idle(busy0, total0, busy, total) { // under one 10 ms tick in 250 ms (or processes left)
			logf("%s: settled after %v (%d ms of CPU)", name, time.Since(start).Round(time.Millisecond), max(t-t0, 0)*10)
			return
		}
		prev, busy0, total0 = t, busy, total
	}
	logf("%s: still busy after a minute, going on", name)
}

// procField reads a "Name:   123 kB" field of a /proc file.
func procField(path, name string) int64 {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name); ok {
			fs := strings.Fields(v)
			if len(fs) > 0 {
				n, _ := strconv.ParseInt(fs[0], 10, 64)
				return n
			}
		}
	}
	return 0
}
