package imapd

import (
	"strings"
	"testing"
)

// TestReselect: SELECT while a mailbox is selected closes it (OK [CLOSED],
// RFC 7162 3.2.11) and selects the new one; a SELECT that fails leaves no
// mailbox selected (RFC 3501 6.3.1); selecting again after that works.
func TestReselect(t *testing.T) {
	e := startEnv(t, envOptions{})
	r := e.login()
	r.appendMsg("INBOX", `\Seen`, "Subject: one\r\n\r\nbody\r\n")
	r.ok("SELECT INBOX")
	for range 3 {
		u := r.ok("SELECT INBOX")
		if !hasLine(u, "* OK [CLOSED] Previous mailbox is now closed") || !hasLine(u, "* 1 EXISTS") {
			t.Fatalf("SELECT again: %q", u)
		}
	}
	r.ok("CREATE Work")
	u := r.ok("EXAMINE Work")
	if !hasLine(u, "* OK [CLOSED] Previous mailbox is now closed") || !hasLine(u, "* 0 EXISTS") {
		t.Fatalf("EXAMINE of another mailbox: %q", u)
	}
	if u, st := r.cmd("SELECT Nonexistent"); !strings.HasPrefix(st, "NO") || !hasLine(u, "* OK [CLOSED] Previous mailbox is now closed") {
		t.Fatalf("SELECT of a missing mailbox: %q %q", u, st)
	}
	if _, st := r.cmd("FETCH 1 (FLAGS)"); !strings.HasPrefix(st, "BAD") {
		t.Errorf("FETCH after a failed SELECT: %q, want BAD (no mailbox selected)", st)
	}
	u = r.ok("SELECT INBOX")
	if hasLine(u, "* OK [CLOSED] Previous mailbox is now closed") {
		t.Errorf("SELECT with nothing selected sent OK [CLOSED]: %q", u)
	}
	if u := r.ok("FETCH 1 (FLAGS)"); !hasLine(u, `* 1 FETCH (FLAGS (\Seen))`) {
		t.Errorf("FETCH: %q", u)
	}
	if u := r.ok("SEARCH SUBJECT one"); !hasLine(u, "* SEARCH 1") {
		t.Errorf("SEARCH after reselecting: %q", u)
	}
}
