package imapd

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// panicWatcher is a slog handler that remembers messages about panics; the
// connection code recovers from them, so they would otherwise go unseen.
type panicWatcher struct {
	mu     sync.Mutex
	panics []string
}

func (p *panicWatcher) Enabled(context.Context, slog.Level) bool { return true }
func (p *panicWatcher) Handle(_ context.Context, r slog.Record) error {
	if strings.Contains(r.Message, "panic") {
		p.mu.Lock()
		p.panics = append(p.panics, r.Message)
		p.mu.Unlock()
	}
	return nil
}
func (p *panicWatcher) WithAttrs([]slog.Attr) slog.Handler { return p }
func (p *panicWatcher) WithGroup(string) slog.Handler      { return p }

// FuzzCommand feeds arbitrary command lines to two connections kept open
// across inputs, one logged in with a message selected and one not
// authenticated, and checks that the server never panics and always either
// answers a command sent after them or closes the connection. The
// connections (and the argon2id login) are made once per fuzzing process
// and again only when an input closes or logs out one of them.
func FuzzCommand(f *testing.F) {
	for _, s := range []string{
		"a FETCH 1 (BODY[1.2.3.MIME]<0.10> BODYSTRUCTURE ENVELOPE)",
		"a UID SEARCH OR (NOT SEEN) HEADER X y BODY {3+}\r\nabc",
		"a STORE 1:* (UNCHANGEDSINCE 1) -FLAGS.SILENT (\\Seen $x)",
		"a LIST (SUBSCRIBED) \"\" (* %) RETURN (STATUS (MESSAGES SIZE HIGHESTMODSEQ))",
		"a APPEND INBOX (\\Seen) {5+}\r\nhello",
		"a SEARCH RETURN (SAVE) ALL\r\nb FETCH $ (UID)",
		"a ID (\"k\" NIL)",
		"a GETQUOTAROOT INBOX",
		"a COPY 1 \"&AOk-t&AOk-\"",
		"a FETCH 4294967295:1 FLAGS",
		"a AUTHENTICATE PLAIN",
		"a IDLE",
		"a LOGOUT",
		"a UNSELECT",
		"a UNAUTHENTICATE",
		"a SEARCH {20}\r\nabc",
		"a UID FETCH 1:* (UID FLAGS MODSEQ)",
		"a FETCH 1 (UID)",
		"a SELECT INBOX\r\nb SELECT Nope\r\nc FETCH 1 FLAGS",
		"a EXAMINE INBOX (CONDSTORE)\r\nb FETCH 1:* (FLAGS) (CHANGEDSINCE 1)",
	} {
		f.Add(s)
	}
	watcher := &panicWatcher{}
	e := startEnv(f, envOptions{logger: slog.New(watcher)})
	setup := e.login()
	setup.appendMsg("INBOX", "", testMessage)
	setup.c.Close()
	conns := []*fuzzConn{{e: e, login: true}, {e: e}}
	f.Cleanup(func() {
		for _, fc := range conns {
			fc.close()
		}
	})
	f.Fuzz(func(t *testing.T, input string) {
		for _, fc := range conns {
			if err := fc.exchange(input); err != nil {
				t.Fatalf("%s connection: %v", fc.kind(), err)
			}
		}
		watcher.mu.Lock()
		defer watcher.mu.Unlock()
		if len(watcher.panics) > 0 {
			t.Fatalf("server panicked on %q: %s", input, watcher.panics[0])
		}
	})
}

// fuzzConn is one long-lived fuzzing connection. A goroutine reads its
// response lines (literals inlined) into lines, which is closed when the
// connection ends.
type fuzzConn struct {
	e     *testEnv
	login bool // logged in with INBOX selected, or not authenticated

	c     net.Conn
	lines chan string
	seq   int
}

func (fc *fuzzConn) kind() string {
	if fc.login {
		return "logged-in"
	}
	return "not-authenticated"
}

func (fc *fuzzConn) close() {
	if fc.c != nil {
		fc.c.Close()
		for range fc.lines { // wait for the reader to end
		}
		fc.c = nil
	}
}

// open connects and, for the logged-in kind, logs in and selects INBOX.
func (fc *fuzzConn) open() error {
	c, err := net.Dial("tcp", fc.e.addr)
	if err != nil {
		return err
	}
	fc.c, fc.lines = c, make(chan string, 64)
	go readResponses(c, fc.lines)
	if l, ok := fc.next(10 * time.Second); !ok || !strings.HasPrefix(l, "* OK") {
		fc.close()
		return fmt.Errorf("greeting %q", l)
	}
	if fc.login {
		fc.send(fmt.Sprintf("l LOGIN %s %q\r\ns SELECT INBOX\r\n", testUser, testPassword))
		if st, err := fc.await("s ", 30*time.Second); err != nil || !strings.HasPrefix(st, "s OK") {
			fc.close()
			return fmt.Errorf("log in and select: %q, %v", st, err)
		}
	}
	return nil
}

// readResponses sends each response line of c, with literals inlined, to
// lines until c ends.
func readResponses(c net.Conn, lines chan<- string) {
	defer close(lines)
	br := bufio.NewReader(c)
	for {
		var sb strings.Builder
		for {
			l, err := br.ReadString('\n')
			if err != nil {
				return
			}
			sb.WriteString(l)
			n, ok := trailingLiteral(l)
			if !ok {
				break
			}
			if _, err := io.CopyN(&sb, br, n); err != nil {
				return
			}
		}
		lines <- sb.String()
	}
}

// trailingLiteral reports the size of the literal announced at the end of
// line ("{N}" or "{N+}" before CRLF).
func trailingLiteral(line string) (int64, bool) {
	l := strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
	if !strings.HasSuffix(l, "}") {
		return 0, false
	}
	i := strings.LastIndexByte(l, '{')
	if i < 0 {
		return 0, false
	}
	n, err := strconv.ParseInt(strings.TrimSuffix(l[i+1:len(l)-1], "+"), 10, 64)
	return n, err == nil && n >= 0
}

// literalDeficit is how many bytes the literals announced in input still
// wait for at its end: the client side of RFC 9051 4.3, so that the
// harness can complete them before its own command.
func literalDeficit(input string) int64 {
	rest := input
	for {
		i := strings.Index(rest, "\n")
		if i < 0 {
			// The harness ends the last line with CRLF.
			n, ok := trailingLiteral(rest)
			if !ok {
				return 0
			}
			return n
		}
		n, ok := trailingLiteral(rest[:i+1])
		rest = rest[i+1:]
		if ok {
			if n > int64(len(rest)) {
				return n - int64(len(rest))
			}
			rest = rest[n:]
		}
	}
}

func (fc *fuzzConn) send(s string) {
	fc.c.SetWriteDeadline(time.Now().Add(30 * time.Second))
	io.WriteString(fc.c, s) // a failed write shows as the connection ending
}

// next returns the next response line, or false when the connection ended
// or nothing came within d.
func (fc *fuzzConn) next(d time.Duration) (string, bool) {
	select {
	case l, ok := <-fc.lines:
		return l, ok
	case <-time.After(d):
		return "", false
	}
}

// errClosed: the server closed the connection, an acceptable answer.
var errClosed = errors.New("connection closed")

// await reads lines until one starts with prefix and returns it.
func (fc *fuzzConn) await(prefix string, d time.Duration) (string, error) {
	deadline := time.Now().Add(d)
	for {
		select {
		case l, ok := <-fc.lines:
			if !ok {
				return "", errClosed
			}
			if strings.HasPrefix(l, prefix) {
				return l, nil
			}
		case <-time.After(time.Until(deadline)):
			return "", fmt.Errorf("no %q answer within %s", prefix, d)
		}
	}
}

// Probing: when the input leaves the server waiting for more than a
// command (a SASL exchange, IDLE), the harness's next lines complete it;
// it sends a new probe after each quiet interval, a few times at most.
const (
	probeQuiet = 200 * time.Millisecond
	maxProbes  = 5
	// maxFiller bounds the bytes sent to complete the input's literals;
	// past it the server may wait for the rest, which is not a fault.
	maxFiller = 1 << 20
)

// exchange sends input on the connection (reopening it first if needed)
// and checks that a command after it is answered or the connection closes.
func (fc *fuzzConn) exchange(input string) error {
	if fc.c == nil {
		if err := fc.open(); err != nil {
			return err
		}
	}
	fc.seq++
	tag := func(kind string, k int) string { return fmt.Sprintf("q%s%dx%d", kind, fc.seq, k) }
	// Back to the state the kind stands for: SELECT is a memory operation
	// on a logged-in connection; UNAUTHENTICATE (RFC 8437) undoes a login
	// the input may have made on the other.
	reset := tag("r", 0) + " UNAUTHENTICATE\r\n"
	if fc.login {
		reset = tag("r", 0) + " SELECT INBOX\r\n"
	}
	var filler string
	deficit := literalDeficit(input)
	if deficit > 0 && deficit <= maxFiller {
		filler = strings.Repeat("x", int(deficit))
	}
	fc.send(reset + input + filler + "\r\n" + tag("p", 1) + " NOOP\r\n")
	st, err := fc.await(tag("r", 0)+" ", 30*time.Second)
	switch {
	case errors.Is(err, errClosed):
		fc.close()
		return nil
	case err != nil:
		return fmt.Errorf("reset %q: %v", reset, err)
	case fc.login && !strings.HasPrefix(st, tag("r", 0)+" OK"):
		// Logged out by an earlier input (UNAUTHENTICATE): log in again
		// next time.
		fc.close()
		return nil
	}
	probes, probes0 := 1, fmt.Sprintf("qp%dx", fc.seq)
	quiet := time.NewTimer(probeQuiet)
	defer quiet.Stop()
	giveUp := time.After(30 * time.Second)
	for {
		select {
		case l, ok := <-fc.lines:
			if !ok {
				fc.close()
				return nil
			}
			if strings.HasPrefix(l, probes0) {
				// A probe was answered: the server reads commands again.
				// One last probe, answered in order, ends the exchange.
				final := tag("f", 0)
				fc.send(final + " NOOP\r\n")
				if _, err := fc.await(final+" ", 30*time.Second); errors.Is(err, errClosed) {
					fc.close()
				} else if err != nil {
					return fmt.Errorf("after %q: %v", input, err)
				}
				return nil
			}
			quiet.Reset(probeQuiet)
		case <-quiet.C:
			if probes < maxProbes {
				probes++
				fc.send(tag("p", probes) + " NOOP\r\n")
			}
			quiet.Reset(probeQuiet)
		case <-giveUp:
			if deficit > maxFiller {
				// Still reading a literal too large to complete: start
				// over on a new connection.
				fc.close()
				return nil
			}
			return fmt.Errorf("no answer and no close after %q", input)
		}
	}
}
