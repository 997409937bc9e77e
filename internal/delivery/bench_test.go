package delivery

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cabalmail/cabalmail/internal/benchutil"
	"github.com/cabalmail/cabalmail/internal/maillog"
	"github.com/cabalmail/cabalmail/internal/queue"
)

// benchMessages and benchSize are the drain benchmark's load: 10,000
// queued messages of 5 KB, one recipient each, all to one remote domain.
const (
	benchMessages = 10000
	benchSize     = 5 << 10
)

// startSink runs Postfix's smtp-sink on a loopback port: it accepts every
// message and throws it away.
func startSink(b *testing.B) string {
	b.Helper()
	sink := "/usr/sbin/smtp-sink"
	if _, err := os.Stat(sink); err != nil {
		sink = "/usr/lib/postfix/sbin/smtp-sink"
	}
	if _, err := os.Stat(sink); err != nil {
		b.Skip("smtp-sink (Debian's postfix) not installed")
	}
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(b))
	cmd := exec.Command(sink, "-u", "nobody", "-c", addr, "1000") // it will not run as root
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	waitPort(b, addr)
	return addr
}

func waitPort(b testing.TB, addr string) {
	b.Helper()
	p := &postfixMX{t: b}
	p.waitListening(addr)
}

// BenchmarkDrainToSink drains 10,000 queued 5 KB messages to smtp-sink,
// each DKIM-signed (RSA-2048) on its way out as submitted mail is,
// and side by side has a private Postfix relay the same load to the same
// sink (injected first with the smtp transport deferred, then released
// with postqueue -f and timed until its queue is empty). It reports
// messages per second for both. Run it with -bench DrainToSink
// -benchtime 1x.
func BenchmarkDrainToSink(b *testing.B) {
	sink := startSink(b)
	b.Run("cabalmail", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			// The mail log is written once an attempt's result is
			// committed, so counting its lines tells when the queue is
			// drained without polling the store.
			var logged lineCounter
			e := newEnv(b, sink, func(o *Options) {
				o.PerDomain, o.Concurrency = 50, 50
				o.MailLog = maillog.New(&logged)
			})
			fillQueue(b, e.q, benchMessages)
			benchutil.SyncAndWaitIdle(30 * time.Second)
			b.StartTimer()
			start := time.Now()
			e.start()
			deadline := time.Now().Add(10 * time.Minute)
			for logged.n.Load() < benchMessages {
				if time.Now().After(deadline) {
					b.Fatalf("queue not drained after 10 minutes: %d sent", logged.n.Load())
				}
				time.Sleep(5 * time.Millisecond)
			}
			el := time.Since(start)
			b.StopTimer()
			e.stop()
			if n := e.queueLen(); n != 0 {
				b.Fatalf("%d messages left in the queue", n)
			}
			b.ReportMetric(float64(benchMessages)/el.Seconds(), "msgs/s")
			b.Logf("cabalmail drained %d messages of %d bytes in %s: %.0f messages/s", benchMessages, benchSize, el.Round(time.Millisecond),
				float64(benchMessages)/el.Seconds())
		}
	})
	b.Run("postfix", func(b *testing.B) {
		needPostfix(b, "smtp-source", "postqueue")
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			port := freePort(b)
			p := startPostfix(b, fmt.Sprintf(`relayhost = [127.0.0.1]:%s
defer_transports = smtp
default_destination_concurrency_limit = 50
smtp_destination_concurrency_limit = 50
default_process_limit = 200
smtp_tls_security_level = none
in_flow_delay = 0`, portOf(sink)), fmt.Sprintf("127.0.0.1:%d inet n - n - - smtpd", port))
			smtpd := fmt.Sprintf("127.0.0.1:%d", port)
			p.waitListening(smtpd)
			p.run("smtp-source", "-s", "20", "-m", fmt.Sprint(benchMessages), "-l", fmt.Sprint(benchSize),
				"-f", "alice@x1.example.test", "-t", "bob@sink.test", smtpd)
			waitQueue(b, p, func(incoming, active, deferred int) bool { return incoming+active == 0 && deferred == benchMessages })
			p.run("postconf", "-c", filepath.Join(p.dir, "conf"), "-e", "defer_transports =")
			p.run("postfix", "-c", filepath.Join(p.dir, "conf"), "reload")
			time.Sleep(time.Second) // let the reload settle before the clock starts
			benchutil.SyncAndWaitIdle(30 * time.Second)
			b.StartTimer()
			start := time.Now()
			p.run("postqueue", "-c", filepath.Join(p.dir, "conf"), "-f")
			waitQueue(b, p, func(incoming, active, deferred int) bool { return incoming+active+deferred == 0 })
			el := time.Since(start)
			b.StopTimer()
			b.ReportMetric(float64(benchMessages)/el.Seconds(), "msgs/s")
			b.Logf("postfix drained %d messages of %d bytes in %s: %.0f messages/s", benchMessages, benchSize, el.Round(time.Millisecond),
				float64(benchMessages)/el.Seconds())
		}
	})
}

func portOf(addr string) string { return addr[strings.LastIndexByte(addr, ':')+1:] }

// waitQueue polls the file counts of Postfix's queues until done says so.
func waitQueue(b testing.TB, p *postfixMX, done func(incoming, active, deferred int) bool) {
	b.Helper()
	count := func(q string) int {
		n := 0
		_ = filepath.WalkDir(filepath.Join(p.dir, "queue", q), func(_ string, d os.DirEntry, err error) error {
			if err == nil && d.Type().IsRegular() {
				n++
			}
			return nil
		})
		return n
	}
	deadline := time.Now().Add(10 * time.Minute)
	for {
		in, act, def := count("incoming"), count("active"), count("deferred")
		if done(in, act, def) {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("postfix queue: incoming %d, active %d, deferred %d\n%s", in, act, def, p.maillog())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// fillQueue enqueues n messages of benchSize bytes from 50 goroutines.
func fillQueue(b testing.TB, q *queue.Queue, n int) {
	b.Helper()
	filler := strings.Repeat("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ+/-=\r\n", benchSize/68)
	next := make(chan int)
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for w := 0; w < 50; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				hdr := fmt.Sprintf("From: <alice@x1.example.test>\r\nTo: <bob@sink.test>\r\nSubject: bench %d\r\n\r\n", i)
				body := hdr + filler[:benchSize-len(hdr)]
				if _, err := q.Enqueue(context.Background(), queue.Message{From: "alice@x1.example.test", Recipients: []string{"bob@sink.test"},
					Body: strings.NewReader(body), SignDomain: "x1.example.test"}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	for i := 0; i < n; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
}

// lineCounter counts the lines written to it.
type lineCounter struct{ n atomic.Int64 }

func (c *lineCounter) Write(p []byte) (int, error) {
	c.n.Add(int64(bytes.Count(p, []byte("\n"))))
	return len(p), nil
}
