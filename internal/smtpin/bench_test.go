package smtpin

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/cabalmail/cabalmail/internal/benchutil"
	"github.com/cabalmail/cabalmail/internal/postfixtest"
)

// BenchmarkSMTPSource runs Postfix's smtp-source against our MX and against
// Postfix from Debian delivering to a Maildir, side by side in one run, with
// the same load: 20 sessions, 5 KB messages, 5,000 messages (override with
// CABALMAIL_BENCH_MESSAGES). Each server gets the load twice, each time
// freshly set up: once with smtp-source connected to it directly, for
// messages per second until every message is durably in its mailbox (the
// figure compared), and once through a pass-through proxy that times each
// transaction (MAIL FROM to the end-of-data reply) for p50/p99. The proxy
// costs CPU on the same cores as the servers, so its run's rate is lower;
// it is reported too ("proxied-msgs/s"). The sides take turns in the order
// ours, Postfix, Postfix, ours, and a last line gives each side's rate
// over its two turns. Run it alone:
//
//	go test -run '^$' -bench SMTPSource -benchtime 1x ./internal/smtpin
func BenchmarkSMTPSource(b *testing.B) {
	needBinaries(b, "smtp-source", "postfix", "postconf")
	n := 5000
	if v := os.Getenv("CABALMAIL_BENCH_MESSAGES"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil {
			b.Fatal(err)
		}
	}
	ours := func(b *testing.B) loadResult {
		var res loadResult
		for _, proxied := range []bool{false, true} {
			e := newTestEnv(b, func(o *Options) {
				o.Auth = nil // replaced below
			})
			e.srv.auth = fastDNSChecker(b)
			settleDisk()
			b.StartTimer()
			res.add(runSMTPSource(b, e.addr, "shop@x1.example.test", n, proxied, func() int {
				return n // every 250 means the message is durable
			}))
			b.StopTimer()
			if got := len(e.inbox("alice")); got != n {
				b.Fatalf("alice has %d messages, want %d", got, n)
			}
		}
		return res
	}
	postfix := func(b *testing.B) loadResult {
		var res loadResult
		for _, proxied := range []bool{false, true} {
			addr, box := startPostfixMaildir(b)
			settleDisk()
			b.StartTimer()
			res.add(runSMTPSource(b, addr, "user@bench.test", n, proxied, func() int { return countFiles(box) }))
			b.StopTimer()
		}
		return res
	}
	// The machine slows down a little with every run (this kind of VM's
	// writeback and discards), so whoever goes first has an edge: the
	// order is ours, Postfix, Postfix, ours, and each side is judged on
	// its two turns together.
	var total [2]loadResult // ours, Postfix
	for i, side := range []int{0, 1, 1, 0} {
		name, run := "cabalmail", ours
		if side == 1 {
			name, run = "postfix-maildir", postfix
		}
		b.Run(fmt.Sprintf("%s-%d", name, i/2+1), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				res := run(b)
				res.report(b)
				total[side].sum(res)
			}
		})
	}
	if total[0].n > 0 && total[1].n > 0 {
		rate := func(r loadResult, d time.Duration) float64 { return float64(r.n) / d.Seconds() }
		// The parent of sub-benchmarks prints no log of its own.
		fmt.Printf("both turns: ours %.0f msgs/s, Postfix %.0f msgs/s (%.2fx); through the proxy %.0f, %.0f (%.2fx)\n",
			rate(total[0], total[0].elapsed), rate(total[1], total[1].elapsed),
			rate(total[0], total[0].elapsed)/rate(total[1], total[1].elapsed),
			rate(total[0], total[0].proxied), rate(total[1], total[1].proxied),
			rate(total[0], total[0].proxied)/rate(total[1], total[1].proxied))
	}
}

// settleDisk writes back what the filesystems hold dirty (the previous
// run's files and their removal) before a timed run, then waits, at most
// half a minute, until the machine has been 90% idle for a quarter of a
// second (the kernel's writeback and discards of removed files done), so
// neither server's run carries the other's leftover work.
func settleDisk() {
	benchutil.SyncAndWaitIdle(30 * time.Second)
}

type loadResult struct {
	n        int
	elapsed  time.Duration // smtp-source connected directly
	proxied  time.Duration // through the timing proxy
	p50, p99 time.Duration // from the proxied run
}

// sum adds the messages and times of o to r (latencies are not summed).
func (r *loadResult) sum(o loadResult) {
	r.n += o.n
	r.elapsed += o.elapsed
	r.proxied += o.proxied
}

// add takes in the result of one run, direct or proxied.
func (r *loadResult) add(o loadResult) {
	r.n = o.n
	if o.p50 == 0 {
		r.elapsed = o.elapsed
		return
	}
	r.proxied, r.p50, r.p99 = o.proxied, o.p50, o.p99
}

func (r loadResult) report(b *testing.B) {
	b.ReportMetric(float64(r.n)/r.elapsed.Seconds(), "msgs/s")
	b.ReportMetric(float64(r.n)/r.proxied.Seconds(), "proxied-msgs/s")
	b.ReportMetric(float64(r.p50.Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(r.p99.Microseconds())/1000, "p99-ms")
	b.Logf("%d messages in %v: %.0f msgs/s; through the timing proxy %v: %.0f msgs/s, p50 %v, p99 %v", r.n,
		r.elapsed.Round(time.Millisecond), float64(r.n)/r.elapsed.Seconds(),
		r.proxied.Round(time.Millisecond), float64(r.n)/r.proxied.Seconds(), r.p50, r.p99)
}

// runSMTPSource sends n messages, directly or through a timing proxy, and
// waits until durable() reports all n stored. The direct run's result has
// elapsed set, the proxied run's proxied and the latencies.
func runSMTPSource(b *testing.B, target, rcpt string, n int, proxied bool, durable func() int) loadResult {
	b.Helper()
	var p *timingProxy
	addr := target
	if proxied {
		p = startTimingProxy(b, target)
		addr = p.addr
	}
	start := time.Now()
	cmd := exec.Command("smtp-source", "-s", "20", "-l", "5120", "-m", strconv.Itoa(n),
		"-f", "sender@remote.example", "-t", rcpt, "-M", "client.remote.example", addr)
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("smtp-source: %v\n%s", err, out)
	}
	deadline := time.Now().Add(5 * time.Minute)
	for durable() < n {
		if time.Now().After(deadline) {
			b.Fatalf("only %d of %d messages stored", durable(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
	elapsed := time.Since(start)
	if !proxied {
		return loadResult{n: n, elapsed: elapsed}
	}
	lat := p.latencies()
	if len(lat) != n {
		b.Fatalf("proxy saw %d transactions, want %d", len(lat), n)
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	return loadResult{n: n, proxied: elapsed, p50: lat[len(lat)/2], p99: lat[len(lat)*99/100]}
}

// timingProxy passes SMTP through and times each transaction from MAIL
// FROM to the reply that ends the data (smtp-source does not pipeline).
type timingProxy struct {
	addr string
	mu   sync.Mutex
	lat  []time.Duration
}

func startTimingProxy(b *testing.B, target string) *timingProxy {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	p := &timingProxy{addr: l.Addr().String()}
	b.Cleanup(func() { _ = l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go p.serve(c, target)
		}
	}()
	return p
}

func (p *timingProxy) latencies() []time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]time.Duration(nil), p.lat...)
}

func (p *timingProxy) serve(c net.Conn, target string) {
	defer c.Close()
	s, err := net.Dial("tcp", target)
	if err != nil {
		return
	}
	defer s.Close()
	var mu sync.Mutex
	var start time.Time
	dataSent := false // the "." line went out; the next reply ends the transaction
	go func() {
		r := bufio.NewReader(c)
		sw := bufio.NewWriterSize(s, 64<<10)
		inData := false
		for {
			line, err := r.ReadString('\n')
			if len(line) > 0 {
				mu.Lock()
				switch {
				case inData && line == ".\r\n":
					inData, dataSent = false, true
				case inData:
				case strings.HasPrefix(strings.ToUpper(line), "MAIL FROM"):
					start = time.Now()
				case strings.HasPrefix(strings.ToUpper(line), "DATA"):
					inData = true
				}
				mu.Unlock()
				if _, werr := sw.WriteString(line); werr != nil {
					return
				}
			}
			// Pass on everything received so far before waiting for more:
			// one write per read instead of one per line.
			if r.Buffered() == 0 || err != nil {
				if werr := sw.Flush(); werr != nil {
					return
				}
			}
			if err != nil {
				_ = s.(*net.TCPConn).CloseWrite()
				return
			}
		}
	}()
	r := bufio.NewReader(s)
	cw := bufio.NewWriter(c)
	for {
		line, err := r.ReadString('\n')
		if len(line) > 0 {
			mu.Lock()
			if dataSent && len(line) > 3 && line[3] == ' ' {
				dataSent = false
				if strings.HasPrefix(line, "250") {
					p.mu.Lock()
					p.lat = append(p.lat, time.Since(start))
					p.mu.Unlock()
				}
			}
			mu.Unlock()
			if _, werr := cw.WriteString(line); werr != nil {
				return
			}
		}
		if r.Buffered() == 0 || err != nil {
			if werr := cw.Flush(); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// fastDNSChecker returns an authres checker whose resolver is a loopback
// DNS server answering every query at once with "no such name", so the
// benchmark measures the MX, not the network.
func fastDNSChecker(b testing.TB) *authresChecker {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetRcode(r, dns.RcodeNameError)
		_ = w.WriteMsg(m)
	})}
	go func() { _ = srv.ActivateAndServe() }()
	b.Cleanup(func() { _ = srv.Shutdown() })
	return newAuthresChecker("mail."+testApex, pc.LocalAddr().String())
}

// startPostfixMaildir runs a second private Postfix that accepts mail for
// bench.test on a loopback port and delivers it with virtual(8) into one
// Maildir; it returns the SMTP address and the Maildir's new/ directory.
func startPostfixMaildir(b *testing.B) (string, string) {
	b.Helper()
	dir := worldTraversableTempDir(b)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	pf, err := postfixtest.Setup(dir, []string{addr + " inet n - n - - smtpd"}, fmt.Sprintf(`myhostname = mx.bench.test
mynetworks = 127.0.0.0/8
virtual_mailbox_domains = bench.test
virtual_mailbox_base = %[1]s/vmail
virtual_mailbox_maps = static:box/
virtual_uid_maps = static:65534
virtual_gid_maps = static:65534
virtual_minimum_uid = 100
smtpd_client_connection_count_limit = 0
smtpd_client_connection_rate_limit = 0
smtpd_client_message_rate_limit = 0
`, dir))
	if errors.Is(err, postfixtest.ErrNoPostfix) {
		b.Skip(err)
	}
	if err != nil {
		b.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "vmail", "box"), 0o755); err != nil {
		b.Fatal(err)
	}
	if out, err := exec.Command("chown", "-R", "65534:65534", filepath.Join(dir, "vmail")).CombinedOutput(); err != nil {
		b.Fatalf("chown vmail: %v\n%s", err, out)
	}
	if err := pf.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = pf.Stop() })
	// Wait for smtpd to listen.
	for i := 0; ; i++ {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			_ = c.Close()
			break
		}
		if i > 100 {
			b.Fatalf("Postfix does not listen on %s", addr)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return addr, filepath.Join(dir, "vmail", "box", "new")
}

func countFiles(dir string) int {
	f, err := os.Open(dir)
	if err != nil {
		return 0
	}
	defer f.Close()
	names, _ := f.Readdirnames(-1)
	return len(names)
}
