package submission

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
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
	"sync/atomic"
	"testing"
	"time"

	"github.com/cabalmail/cabalmail/internal/benchutil"
	"github.com/cabalmail/cabalmail/internal/config"
	"github.com/cabalmail/cabalmail/internal/delivery"
	"github.com/cabalmail/cabalmail/internal/mailbox"
	"github.com/cabalmail/cabalmail/internal/maillog"
	"github.com/cabalmail/cabalmail/internal/postfixtest"
	"github.com/cabalmail/cabalmail/internal/queue"
	"github.com/cabalmail/cabalmail/internal/tlsutil"
)

// BenchmarkSubmission measures how fast submissions are accepted (the 250
// after the data), by our server and by Postfix from Debian as a
// submission server relaying to smtp-sink, side by side in one run with
// the same client: 4 concurrent connections, each doing STARTTLS once and
// then one transaction after another with a 5 KB message, 4,000 messages
// in all (override with CABALMAIL_BENCH_MESSAGES). Our side also
// authenticates (once per connection), checks the sender and From
// addresses and that the From domain can be signed, fixes the message up
// and queues it durably; Postfix accepts unauthenticated submission from
// loopback (mynetworks) because SASL in Postfix needs Dovecot or Cyrus.
//
// It runs two pairs. In "cabalmail" and "postfix" each server only
// accepts: our queue is not worked, and Postfix holds its relay transport
// (defer_transports), so the figure is acceptance alone, with nothing
// else using the machine. In "cabalmail-relaying" and "postfix-relaying"
// each server relays what it accepts to an smtp-sink of its own while the
// clients submit, as it would in service: our delivery runner DKIM-signs
// every message (RSA-2048) on its way out, Postfix signs nothing. Before
// each side the machine is synced and left to idle (internal/benchutil),
// so neither inherits the other's writeback. It reports messages per
// second and p50/p99 per transaction (MAIL FROM to the final reply). Run
// it alone, as root:
//
//	go test -run '^$' -bench Submission -benchtime 1x ./internal/submission
//
// or scripts/bench-submission.sh.
func BenchmarkSubmission(b *testing.B) {
	n := 4000
	if v := os.Getenv("CABALMAIL_BENCH_MESSAGES"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 4 {
			b.Fatalf("CABALMAIL_BENCH_MESSAGES=%q: want a number of at least 4", v)
		}
	}
	const clients = 4
	msg := benchMessage("shop@x1.example.test", "friend@remote.test", 5*1024)
	for _, relaying := range []bool{false, true} {
		suffix := ""
		if relaying {
			suffix = "-relaying"
		}
		b.Run("cabalmail"+suffix, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				tq := &timedQueue{}
				e := newTestEnv(b, func(o *Options) {
					o.MaxMessagesPerDay = 10 * n
					tq.q = o.Queue
					o.Queue = tq
				})
				var sent *sinkCount
				if relaying {
					sent = startRelayRunner(b, e, startSink(b))
				}
				benchutil.SyncAndWaitIdle(30 * time.Second)
				res, err := runSubmissionLoad(e.addr, clients, n, msg, "alice", "password-alice")
				if err != nil {
					b.Fatal(err)
				}
				res.enqueue = tq.durations()
				if relaying {
					b.Logf("%d of %d messages relayed by the end of the run", sent.n.Load(), n)
				} else {
					got := 0
					for batch := e.queued(); len(batch) > 0; batch = e.queued() {
						got += len(batch)
					}
					if got != n {
						b.Fatalf("%d messages queued, want %d", got, n)
					}
				}
				res.report(b)
			}
		})
		b.Run("postfix"+suffix, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				addr := startPostfixSubmission(b, startSink(b), relaying)
				benchutil.SyncAndWaitIdle(30 * time.Second)
				res, err := runSubmissionLoad(addr, clients, n, msg, "", "")
				if err != nil {
					b.Fatal(err)
				}
				res.report(b)
			}
		})
	}
}

// sinkCount counts the messages our delivery runner finished.
type sinkCount struct{ n atomic.Int64 }

func (c *sinkCount) Write(p []byte) (int, error) {
	c.n.Add(int64(bytes.Count(p, []byte("\n"))))
	return len(p), nil
}

// startRelayRunner runs the delivery runner on e's queue, as the smtp-out
// role does, with every domain routed to sink; it returns the count of
// finished messages (one mail log line each).
func startRelayRunner(b *testing.B, e *testEnv, sink string) *sinkCount {
	b.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	mb, err := mailbox.Open(ctx, mailbox.Options{Store: e.store, Blobs: mailbox.BlobsOf(e.blobs.Dir), Logger: quietLogger()})
	if err != nil {
		b.Fatal(err)
	}
	sent := &sinkCount{}
	r, err := delivery.New(delivery.Options{
		Queue: e.q, Mailboxes: mb, Addresses: e.addrs, Domains: e.domains,
		Routes:   []config.Route{{Domain: "*", Relay: sink}},
		Hostname: e.hostname, MailLog: maillog.New(sent), Logger: quietLogger(),
		// Postfix's default_destination_concurrency_limit.
		PerDomain: 20,
	})
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	b.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			b.Error(err)
		}
		mb.Close()
	})
	return sent
}

// startSink runs Postfix's smtp-sink on a loopback port and returns its
// address.
func startSink(b *testing.B) string {
	b.Helper()
	sink := findBinary(b, "smtp-sink", "/usr/sbin", "/usr/lib/postfix/sbin")
	addr := freeLoopbackAddr(b)
	cmd := exec.Command(sink, "-c", "-u", "nobody", addr, "64")
	if err := cmd.Start(); err != nil {
		b.Fatalf("smtp-sink: %v", err)
	}
	b.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	waitListening(b, "smtp-sink", addr)
	return addr
}

// waitListening waits up to five seconds for what to accept connections
// on addr.
func waitListening(b *testing.B, what, addr string) {
	b.Helper()
	for i := 0; ; i++ {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			_ = c.Close()
			return
		}
		if i > 100 {
			b.Fatalf("%s does not listen on %s", what, addr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

type loadResult struct {
	n        int
	elapsed  time.Duration
	p50, p99 time.Duration
	total    time.Duration   // the transactions' times added up
	enqueue  []time.Duration // our side: each Queue.Enqueue, in order of return
}

// timedQueue times the queue's share of each transaction.
type timedQueue struct {
	q  Queue
	mu sync.Mutex
	d  []time.Duration
}

func (t *timedQueue) Enqueue(ctx context.Context, m queue.Message) (string, error) {
	start := time.Now()
	id, err := t.q.Enqueue(ctx, m)
	d := time.Since(start)
	t.mu.Lock()
	t.d = append(t.d, d)
	t.mu.Unlock()
	return id, err
}

func (t *timedQueue) durations() []time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]time.Duration(nil), t.d...)
}

func (r loadResult) report(b *testing.B) {
	b.ReportMetric(float64(r.n)/r.elapsed.Seconds(), "msgs/s")
	b.ReportMetric(float64(r.p50.Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(r.p99.Microseconds())/1000, "p99-ms")
	b.Logf("%d messages in %v: %.0f msgs/s, p50 %v, p99 %v", r.n, r.elapsed.Round(time.Millisecond),
		float64(r.n)/r.elapsed.Seconds(), r.p50, r.p99)
	if len(r.enqueue) > 0 {
		var sum time.Duration
		for _, d := range r.enqueue {
			sum += d
		}
		sort.Slice(r.enqueue, func(i, j int) bool { return r.enqueue[i] < r.enqueue[j] })
		p50 := r.enqueue[len(r.enqueue)/2]
		share := float64(sum) / float64(r.total)
		b.ReportMetric(float64(p50.Microseconds())/1000, "enqueue-p50-ms")
		b.ReportMetric(100*share, "enqueue-%")
		b.Logf("Queue.Enqueue: p50 %v, p99 %v, %.0f%% of the transactions' time", p50, r.enqueue[len(r.enqueue)*99/100], 100*share)
	}
}

// benchMessage is a message of about size octets, lines of 76 characters.
func benchMessage(from, to string, size int) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "From: Alice <%s>\r\nTo: <%s>\r\nSubject: load\r\nDate: Mon, 2 Jan 2006 15:04:05 +0000\r\n\r\n", from, to)
	line := strings.Repeat("abcdefghij", 7) + "012345\r\n"
	for sb.Len() < size {
		sb.WriteString(line)
	}
	return sb.String()
}

// runSubmissionLoad opens clients connections (STARTTLS and, with a user,
// AUTH PLAIN), then has them submit n messages in all and times each
// transaction. Connection set-up is not counted.
func runSubmissionLoad(addr string, clients, n int, msg, user, pass string) (loadResult, error) {
	conns := make([]*loadConn, clients)
	for i := range conns {
		c, err := dialLoadConn(addr, user, pass)
		if err != nil {
			return loadResult{}, err
		}
		defer c.conn.Close()
		conns[i] = c
	}
	data := []byte(msg + ".\r\n")
	lat := make([][]time.Duration, clients)
	errs := make([]error, clients)
	var wg sync.WaitGroup
	start := time.Now()
	for i, c := range conns {
		share := n / clients
		if i < n%clients {
			share++
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range share {
				t0 := time.Now()
				if err := c.transaction("shop@x1.example.test", "friend@remote.test", data); err != nil {
					errs[i] = err
					return
				}
				lat[i] = append(lat[i], time.Since(t0))
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	var all []time.Duration
	for i := range conns {
		if errs[i] != nil {
			return loadResult{}, errs[i]
		}
		all = append(all, lat[i]...)
		_, _ = fmt.Fprintf(conns[i].conn, "QUIT\r\n")
	}
	var total time.Duration
	for _, d := range all {
		total += d
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	return loadResult{n: n, elapsed: elapsed, p50: all[len(all)/2], p99: all[len(all)*99/100], total: total}, nil
}

type loadConn struct {
	conn net.Conn
	r    *bufio.Reader
	w    *bufio.Writer
}

func dialLoadConn(addr, user, pass string) (*loadConn, error) {
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	c := &loadConn{conn: nc, r: bufio.NewReader(nc), w: bufio.NewWriter(nc)}
	if err := c.expect("220"); err != nil {
		return nil, err
	}
	if err := c.cmd("EHLO load.example", "250"); err != nil {
		return nil, err
	}
	if err := c.cmd("STARTTLS", "220"); err != nil {
		return nil, err
	}
	tc := tls.Client(nc, &tls.Config{InsecureSkipVerify: true})
	if err := tc.Handshake(); err != nil {
		return nil, err
	}
	c.conn, c.r, c.w = tc, bufio.NewReader(tc), bufio.NewWriter(tc)
	if err := c.cmd("EHLO load.example", "250"); err != nil {
		return nil, err
	}
	if user != "" {
		if err := c.cmd("AUTH PLAIN "+base64.StdEncoding.EncodeToString([]byte("\x00"+user+"\x00"+pass)), "235"); err != nil {
			return nil, err
		}
	}
	return c, nil
}

func (c *loadConn) expect(code string) error {
	for {
		line, err := c.r.ReadString('\n')
		if err != nil {
			return fmt.Errorf("read reply: %w", err)
		}
		if !strings.HasPrefix(line, code) {
			return fmt.Errorf("reply %q, want %s", strings.TrimSpace(line), code)
		}
		if len(line) < 4 || line[3] != '-' {
			return nil
		}
	}
}

func (c *loadConn) cmd(line, code string) error {
	if _, err := c.w.WriteString(line + "\r\n"); err != nil {
		return err
	}
	if err := c.w.Flush(); err != nil {
		return err
	}
	return c.expect(code)
}

// transaction sends one message; data is dot-stuffed already and ends
// with the final dot.
func (c *loadConn) transaction(from, to string, data []byte) error {
	if err := c.cmd("MAIL FROM:<"+from+">", "250"); err != nil {
		return err
	}
	if err := c.cmd("RCPT TO:<"+to+">", "250"); err != nil {
		return err
	}
	if err := c.cmd("DATA", "354"); err != nil {
		return err
	}
	if _, err := c.w.Write(data); err != nil {
		return err
	}
	if err := c.w.Flush(); err != nil {
		return err
	}
	return c.expect("250")
}

// startPostfixSubmission runs a private Postfix on a loopback port that
// offers STARTTLS, accepts mail from loopback (mynetworks) and relays it to
// sink, or, unless relaying, holds it in its queue (defer_transports); it
// returns Postfix's address.
func startPostfixSubmission(b *testing.B, sink string, relaying bool) string {
	b.Helper()
	for _, bin := range []string{"postfix", "postconf"} {
		if _, err := exec.LookPath(bin); err != nil {
			b.Skipf("%s is not installed (Debian package postfix)", bin)
		}
	}
	if os.Geteuid() != 0 {
		b.Skip("Postfix is started from a private configuration: run as root")
	}
	dir, err := os.MkdirTemp("", "cabalmail-postfix-")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = os.RemoveAll(dir) })
	// Postfix's daemons run as the postfix user and must reach the queue.
	if err := os.Chmod(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	addr := freeLoopbackAddr(b)
	hold := "defer_transports = smtp\n"
	if relaying {
		hold = ""
	}
	conf := filepath.Join(dir, "conf")
	if err := os.MkdirAll(conf, 0o755); err != nil {
		b.Fatal(err)
	}
	certPath, keyPath := filepath.Join(conf, "cert.pem"), filepath.Join(conf, "key.pem")
	if err := tlsutil.GenerateSelfSigned(certPath, keyPath, []string{"smtp.bench.test"}, time.Hour); err != nil {
		b.Fatal(err)
	}
	pf, err := postfixtest.Setup(dir, []string{addr + " inet n - n - - smtpd"}, fmt.Sprintf(`myhostname = smtp.bench.test
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject
relayhost = [%[1]s]:%[2]s
smtpd_tls_security_level = may
smtpd_tls_cert_file = %[3]s
smtpd_tls_key_file = %[4]s
smtpd_client_connection_count_limit = 0
smtpd_client_connection_rate_limit = 0
smtpd_client_message_rate_limit = 0
%[5]s`, strings.Split(sink, ":")[0], strings.Split(sink, ":")[1], certPath, keyPath, hold))
	if errors.Is(err, postfixtest.ErrNoPostfix) {
		b.Skip(err)
	}
	if err != nil {
		b.Fatal(err)
	}
	if err := pf.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = pf.Stop() })
	waitListening(b, "Postfix", addr)
	return addr
}

// findBinary looks for name on PATH and then in dirs, or skips.
func findBinary(b *testing.B, name string, dirs ...string) string {
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, d := range dirs {
		p := filepath.Join(d, name)
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	b.Skipf("%s is not installed (Debian package postfix)", name)
	return ""
}

func freeLoopbackAddr(b *testing.B) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return addr
}
