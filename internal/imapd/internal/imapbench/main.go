// Command imapbench measures the IMAP server against Dovecot, side by side,
// on the same generated mailbox, with the same client code. It is not part
// of the product; scripts/bench-imap.sh builds and runs it.
//
// For each server it fills INBOX with -n messages (ours through
// mailbox.Deliver, Dovecot by writing Maildir files), then measures the
// median of -runs runs of: SELECT INBOX on a fresh connection (4 × -runs
// connections; for Dovecot after a first, indexing SELECT, which is
// reported apart), NOOP on an open
// connection before and after SELECT (the round-trip floor, 4 × -runs runs,
// as SELECT again on that connection; the lowest such median of five
// connections, see measure) and right after LOGIN (the floor of SELECT
// right after LOGIN; 4 × -runs connections), UID FETCH 1:*
// (UID FLAGS), UID SEARCH HEADER Subject, UID SEARCH BODY; the server's
// memory per idle connection (-idle connections logged in, INBOX selected,
// in IDLE: the delta of the server's VmRSS, summed over Dovecot's process
// tree, divided by their number); and APPEND throughput from 10 concurrent
// clients into a new mailbox, per band of 10,000 messages.
//
// Before the timed runs each server is brought to its steady state the same
// way (see steady).
//
// Dovecot is started as root with a throwaway configuration; its mail
// processes run as nobody.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

const (
	benchUser     = "bench"
	benchPassword = "bench password"
	appendClients = 10
	appendBand    = 10000
)

type results struct {
	name                             string
	fill                             time.Duration
	coldSelect                       time.Duration
	selectT, fetch, search, bodySrch time.Duration
	reselect                         time.Duration // SELECT again on an open connection
	noop, noopSelected               time.Duration // NOOP on an open connection: the round-trip floor
	noopLogin                        time.Duration // NOOP right after LOGIN: the floor under SELECT right after LOGIN
	fetchLines                       int
	searchHits, bodyHits             int
	idleRSS, idlePSS                 float64 // KiB per connection
	appendBands                      []float64
	appendN                          int // messages APPENDed (the last band may be partial)
}

func main() {
	n := flag.Int("n", 100000, "messages in INBOX")
	dir := flag.String("dir", "", "work directory (required; emptied data goes in subdirectories)")
	serverBin := flag.String("server", "", "path of the built internal/imapd/internal/crashsrv program")
	idle := flag.Int("idle", 1000, "idle IDLE connections for the memory measure")
	appendOurs := flag.Int("append-ours", 100000, "messages APPENDed to ours")
	appendDovecot := flag.Int("append-dovecot", 25000, "messages APPENDed to Dovecot")
	runs := flag.Int("runs", 5, "runs of each timed operation (the median is reported)")
	only := flag.String("only", "both", "ours, dovecot or both")
	pprofAddr := flag.String("pprof", "", "have our server serve net/http/pprof on this loopback address")
	profileDir := flag.String("profile-dir", "", "with -pprof: after the timed runs, loop SELECT, FETCH and LOGIN+SELECT on our server for -profile-time each and save a CPU profile of each loop in this directory")
	profileTime := flag.Duration("profile-time", 10*time.Second, "length of each profiled loop")
	flag.Parse()
	if *dir == "" || (*only != "dovecot" && *serverBin == "") {
		fmt.Fprintln(os.Stderr, "imapbench: -dir and -server are required")
		os.Exit(2)
	}
	g := newGenerator()
	var all []*results
	failed := false
	if *only != "dovecot" {
		var prof *profiler
		if *profileDir != "" {
			if *pprofAddr == "" {
				fmt.Fprintln(os.Stderr, "imapbench: -profile-dir needs -pprof")
				os.Exit(2)
			}
			prof = &profiler{addr: *pprofAddr, dir: *profileDir, d: *profileTime}
		}
		r, err := benchOurs(filepath.Join(*dir, "ours"), *serverBin, *n, *idle, *appendOurs, *runs, *pprofAddr, prof, g)
		if err != nil {
			// Keep what was measured: the table shows it.
			fmt.Fprintln(os.Stderr, "imapbench: ours:", err)
			failed = true
		}
		if r != nil {
			all = append(all, r)
		}
	}
	if *only != "ours" {
		r, err := benchDovecot(filepath.Join(*dir, "dovecot"), *n, *idle, *appendDovecot, *runs, g)
		if err != nil {
			fmt.Fprintln(os.Stderr, "imapbench: dovecot:", err)
			failed = true
		}
		if r != nil {
			all = append(all, r)
		}
	}
	printTable(os.Stdout, *n, *idle, all)
	if failed {
		os.Exit(1)
	}
}

func benchOurs(dir, bin string, n, idle, appendN, runs int, pprofAddr string, prof *profiler, g *generator) (*results, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	r := &results{name: "cabalmail"}
	logf("ours: delivering %d messages", n)
	fill, err := fillOurs(context.Background(), dir, n, g)
	if err != nil {
		return nil, err
	}
	r.fill = fill
	addr, cmd, err := startOurs(bin, dir, idle+100, pprofAddr)
	if err != nil {
		return nil, err
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	// The first SELECT loads the mailbox; report it as the cold one.
	if r.coldSelect, err = timeSelect(addr); err != nil {
		return nil, err
	}
	pid := cmd.Process.Pid
	if err := steady(r.name, addr, pid); err != nil {
		return nil, err
	}
	if err := measure(r, g, addr, n, idle, appendN, runs, func() (int64, int64) {
		// Have the server hand freed memory back first (see crashsrv).
		cmd.Process.Signal(syscall.SIGUSR1)
		time.Sleep(time.Second)
		rss := procField(fmt.Sprintf("/proc/%d/status", pid), "VmRSS:")
		return rss, procField(fmt.Sprintf("/proc/%d/smaps_rollup", pid), "Pss:")
	}); err != nil {
		return r, err
	}
	if prof != nil {
		if err := prof.run(addr); err != nil {
			return r, err
		}
	}
	return r, nil
}

func benchDovecot(dir string, n, idle, appendN, runs int, g *generator) (*results, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	r := &results{name: "dovecot"}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	logf("dovecot: writing %d Maildir files", n)
	start := time.Now()
	addr, cmd, err := startDovecot(dir, port, n, g)
	if err != nil {
		return nil, err
	}
	r.fill = time.Since(start)
	defer func() { cmd.Process.Signal(os.Interrupt); cmd.Wait() }()
	logf("dovecot: first SELECT (indexing)")
	if r.coldSelect, err = timeSelect(addr); err != nil {
		return nil, err
	}
	pid := cmd.Process.Pid
	if err := steady(r.name, addr, pid); err != nil {
		return nil, err
	}
	if err := measure(r, g, addr, n, idle, appendN, runs, func() (int64, int64) { return treeMemory(pid) }); err != nil {
		return r, err
	}
	return r, nil
}

// steady brings a server whose mailbox a first SELECT loaded to its steady
// state, the same way for both: two seconds, one more SELECT, then until
// it is idle (see settle). Maildir directories changed less than a second
// before a sync leave Dovecot's index "dirty", and it then rescans the
// directories on each SELECT until a sync sees them settled; our server
// looks at a user's mailboxes every half second while it has them loaded.
func steady(name, addr string, pid int) error {
	time.Sleep(2 * time.Second)
	if _, err := timeSelect(addr); err != nil {
		return err
	}
	settle(name, pid)
	return nil
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, time.Now().Format("15:04:05 ")+format+"\n", args...)
}

func timeSelect(addr string) (time.Duration, error) {
	return timeAfterLogin(addr, "SELECT INBOX")
}

// timeAfterLogin times command sent right after LOGIN on a new connection.
func timeAfterLogin(addr, command string) (time.Duration, error) {
	c, err := login(addr, benchUser, benchPassword)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	start := time.Now()
	if _, err := c.cmd(command, nil); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

func median(runs int, f func() (time.Duration, error)) (time.Duration, error) {
	var ds []time.Duration
	for range runs {
		d, err := f()
		if err != nil {
			return 0, err
		}
		ds = append(ds, d)
	}
	slices.Sort(ds)
	return ds[len(ds)/2], nil
}

// searchCount counts the UIDs of a SEARCH or ESEARCH response.
func searchCount(line []byte) int {
	f := strings.Fields(string(line))
	if len(f) >= 2 && f[1] == "SEARCH" {
		return len(f) - 2
	}
	return 0
}

// timedOn returns a timer of command on c.
func timedOn(c *client, command string, onLine func([]byte)) func() (time.Duration, error) {
	return func() (time.Duration, error) {
		start := time.Now()
		_, err := c.cmd(command, onLine)
		return time.Since(start), err
	}
}

// openConnection measures, on a logged-in connection, NOOP before and
// after SELECT INBOX (a bare round trip with this client on this machine,
// the floor under every timed command) and SELECT INBOX again (what a
// client switching back to INBOX sees, without the cost of the login just
// before): each the median of 4 x runs. It leaves INBOX selected.
func openConnection(c *client, runs int) (results, error) {
	var o results
	var err error
	if o.noop, err = median(runs*4, timedOn(c, "NOOP", nil)); err != nil {
		return o, err
	}
	if _, err := c.cmd("SELECT INBOX", nil); err != nil {
		return o, err
	}
	if o.noopSelected, err = median(runs*4, timedOn(c, "NOOP", nil)); err != nil {
		return o, err
	}
	o.reselect, err = median(runs*4, timedOn(c, "SELECT INBOX", nil))
	return o, err
}

func measure(r *results, g *generator, addr string, n, idle, appendN, runs int, mem func() (int64, int64)) error {
	var err error
	logf("%s: SELECT", r.name)
	// Each run of these is a new connection, placed on the CPUs afresh
	// (see below): a round trip right after LOGIN costs about 0.08 ms
	// with client and server on one CPU and twice that across CPUs, so
	// the median is taken over 4 x runs connections, as many as the
	// open-connection figures' runs.
	if r.selectT, err = median(runs*4, func() (time.Duration, error) { return timeSelect(addr) }); err != nil {
		return err
	}
	if r.noopLogin, err = median(runs*4, func() (time.Duration, error) { return timeAfterLogin(addr, "NOOP") }); err != nil {
		return err
	}
	// The open-connection figures depend on where the kernel puts the
	// client and the server: on this kind of machine a round trip costs
	// about 8 us when both run on one CPU and about 70 us when each wakes
	// the other on another CPU, and a connection keeps its placement for
	// thousands of round trips (either server). They are measured on
	// openConns connections, one after the other, and the lowest median of
	// each is kept: the server's cost, not the placement's.
	const openConns = 5
	var c *client
	for i := range openConns {
		if c != nil {
			c.Close()
		}
		if c, err = login(addr, benchUser, benchPassword); err != nil {
			return err
		}
		o, err := openConnection(c, runs)
		if err != nil {
			c.Close()
			return err
		}
		logf("%s: connection %d: NOOP %v, selected %v, SELECT again %v", r.name, i+1, o.noop, o.noopSelected, o.reselect)
		if i == 0 || o.noop < r.noop {
			r.noop = o.noop
		}
		if i == 0 || o.noopSelected < r.noopSelected {
			r.noopSelected = o.noopSelected
		}
		if i == 0 || o.reselect < r.reselect {
			r.reselect = o.reselect
		}
	}
	defer c.Close()
	timed := func(command string, onLine func([]byte)) func() (time.Duration, error) {
		return timedOn(c, command, onLine)
	}
	logf("%s: FETCH", r.name)
	r.fetchLines = 0
	if r.fetch, err = median(runs, timed("UID FETCH 1:* (UID FLAGS)", func(l []byte) {
		if strings.Contains(string(l), "FETCH") {
			r.fetchLines++
		}
	})); err != nil {
		return err
	}
	r.fetchLines /= runs
	logf("%s: NOOP %v (selected: %v, right after LOGIN: %v), SELECT %v (again: %v), FETCH %v (%d lines)", r.name, r.noop, r.noopSelected, r.noopLogin, r.selectT, r.reselect, r.fetch, r.fetchLines)
	logf("%s: SEARCH HEADER", r.name)
	if r.search, err = median(runs, timed("UID SEARCH HEADER Subject "+subjectTerm, func(l []byte) { r.searchHits = max(r.searchHits, searchCount(l)) })); err != nil {
		return err
	}
	logf("%s: SEARCH BODY", r.name)
	if r.bodySrch, err = median(runs, timed("UID SEARCH BODY "+bodyTerm, func(l []byte) { r.bodyHits = max(r.bodyHits, searchCount(l)) })); err != nil {
		return err
	}

	logf("%s: SEARCH HEADER %v (%d), BODY %v (%d)", r.name, r.search, r.searchHits, r.bodySrch, r.bodyHits)
	if idle > 0 {
		logf("%s: %d idle connections", r.name, idle)
		// A first burst of logins as concurrent as the idle connections'
		// below, closed again: what the server keeps once for all
		// connections (password-hashing memory per CPU, Dovecot's auth
		// workers, buffer pools) is then in the baseline, not counted as
		// per-connection memory.
		const concurrentLogins = 20
		var wg sync.WaitGroup
		var firstErr atomic.Value
		for range concurrentLogins {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c, err := login(addr, benchUser, benchPassword)
				if err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
				c.Close()
			}()
		}
		wg.Wait()
		if err, _ := firstErr.Load().(error); err != nil {
			return fmt.Errorf("login burst: %w", err)
		}
		time.Sleep(2 * time.Second)
		rss0, pss0 := mem()
		conns := make([]*client, idle)
		sem := make(chan struct{}, concurrentLogins)
		for i := range conns {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				c, err := login(addr, benchUser, benchPassword)
				if err == nil {
					if _, err = c.cmd("SELECT INBOX", nil); err == nil {
						err = c.idle()
					}
				}
				if err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
				conns[i] = c
			}()
		}
		wg.Wait()
		if err, _ := firstErr.Load().(error); err != nil {
			return fmt.Errorf("idle connections: %w", err)
		}
		time.Sleep(3 * time.Second)
		rss1, pss1 := mem()
		r.idleRSS = float64(rss1-rss0) / float64(idle)
		r.idlePSS = float64(pss1-pss0) / float64(idle)
		logf("%s: idle: RSS %d -> %d KiB, %.1f KiB per connection (Pss %.1f)", r.name, rss0, rss1, r.idleRSS, r.idlePSS)
		for _, ic := range conns {
			ic.Close()
		}
		time.Sleep(2 * time.Second)
	}

	if appendN > 0 {
		logf("%s: APPEND %d with %d clients", r.name, appendN, appendClients)
		r.appendN = appendN
		if _, err := c.cmd("CREATE Bench", nil); err != nil {
			return err
		}
		var next atomic.Int64
		bandEnd := make([]time.Time, (appendN+appendBand-1)/appendBand)
		var done atomic.Int64
		var mu sync.Mutex
		var wg sync.WaitGroup
		var firstErr atomic.Value
		start := time.Now()
		for range appendClients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ac, err := login(addr, benchUser, benchPassword)
				if err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
				defer ac.Close()
				for {
					i := int(next.Add(1) - 1)
					if i >= appendN {
						return
					}
					msg, _ := g.message(n + i)
					if err := ac.appendMsg("Bench", msg); err != nil {
						firstErr.CompareAndSwap(nil, err)
						return
					}
					if d := done.Add(1); d%appendBand == 0 || int(d) == appendN {
						mu.Lock()
						bandEnd[(d-1)/appendBand] = time.Now()
						mu.Unlock()
					}
				}
			}()
		}
		wg.Wait()
		prev := start
		for b, t := range bandEnd {
			if t.IsZero() {
				break // the run failed before this band completed
			}
			count := appendBand
			if b == len(bandEnd)-1 && appendN%appendBand != 0 {
				count = appendN % appendBand
			}
			r.appendBands = append(r.appendBands, float64(count)/t.Sub(prev).Seconds())
			logf("%s: APPEND band %d: %.0f/s", r.name, b, r.appendBands[b])
			prev = t
		}
		if err, _ := firstErr.Load().(error); err != nil {
			return fmt.Errorf("append: %w", err)
		}
	}
	return nil
}
