package imapd

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net"
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

// FuzzCommand feeds arbitrary command lines to a logged-in session with a
// message selected and checks that the server never panics and always
// either answers the command after them or closes the connection.
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
	} {
		f.Add(s)
	}
	watcher := &panicWatcher{}
	e := startEnv(f, envOptions{logger: slog.New(watcher)})
	setup := e.login()
	setup.appendMsg("INBOX", "", testMessage)
	f.Fuzz(func(t *testing.T, input string) {
		c, err := net.Dial("tcp", e.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		br := bufio.NewReader(c)
		fmt.Fprintf(c, "l LOGIN %s %q\r\ns SELECT INBOX\r\n%s\r\nzz9 NOOP\r\n", testUser, testPassword, input)
		for {
			line, err := br.ReadString('\n')
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatalf("no answer and no close after %q", input)
			}
			if err != nil {
				break // closed: acceptable
			}
			if strings.HasPrefix(line, "zz9 ") {
				break
			}
		}
		watcher.mu.Lock()
		defer watcher.mu.Unlock()
		if len(watcher.panics) > 0 {
			t.Fatalf("server panicked on %q: %s", input, watcher.panics[0])
		}
	})
}
