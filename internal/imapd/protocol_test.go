package imapd

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/cabalmail/cabalmail/internal/mailbox"
)

func TestLoginAndCapabilities(t *testing.T) {
	e := startEnv(t, envOptions{})
	r := e.dial()
	u := r.ok("CAPABILITY")
	if len(u) != 1 || !strings.Contains(u[0], "IMAP4rev2") || !strings.Contains(u[0], "AUTH=PLAIN") {
		t.Fatalf("CAPABILITY before login: %q", u)
	}
	_, st := r.cmd(`LOGIN alice "wrong password"`)
	if !strings.HasPrefix(st, "NO [AUTHENTICATIONFAILED]") {
		t.Fatalf("bad login: %s", st)
	}
	if e.srv.LoginFailures() != 1 {
		t.Fatalf("LoginFailures = %d", e.srv.LoginFailures())
	}
	_, st = r.cmd(fmt.Sprintf("LOGIN alice %q", testPassword))
	for _, c := range []string{"IDLE", "UIDPLUS", "MOVE", "SPECIAL-USE", "NAMESPACE", "LITERAL+", "UNSELECT", "ENABLE",
		"SASL-IR", "ESEARCH", "ID", "APPENDLIMIT=52428800", "STATUS=SIZE", "CONDSTORE", "QUOTA"} {
		if !strings.Contains(st, " "+c+" ") && !strings.Contains(st, " "+c+"]") {
			t.Errorf("capability %s missing after login: %s", c, st)
		}
	}
	u = r.ok(`ID ("name" "test")`)
	if !hasLine(u, `* ID ("name" "cabalmail")`) {
		t.Errorf("ID: %q", u)
	}
	r.ok("NAMESPACE")
}

func TestLoginDisabledWithoutTLS(t *testing.T) {
	e := startEnv(t, envOptions{})
	e.srv.opts.InsecureAuthOnLoopback = false
	r := e.dial()
	u := r.ok("CAPABILITY")
	if !strings.Contains(u[0], "LOGINDISABLED") || strings.Contains(u[0], "AUTH=") {
		t.Fatalf("CAPABILITY without TLS: %q", u)
	}
	_, st := r.cmd(fmt.Sprintf("LOGIN alice %q", testPassword))
	if !strings.HasPrefix(st, "NO [PRIVACYREQUIRED]") {
		t.Fatalf("LOGIN without TLS: %s", st)
	}
}

func TestMalformedCommandsKeepConnection(t *testing.T) {
	e := startEnv(t, envOptions{})
	r := e.login()
	for _, c := range []string{"FROB", "FETCH", "SELECT", `LIST "" (`, "FETCH 1 (BODY[", "STORE 1 FLAGS", "SEARCH ((((", `LOGIN "unterminated`} {
		_, st := r.cmd(c)
		if !strings.HasPrefix(st, "BAD") {
			t.Errorf("%s: %s, want BAD", c, st)
		}
		r.ok("NOOP")
	}
}

func TestOversizedLiteral(t *testing.T) {
	e := startEnv(t, envOptions{appendLimit: 1000})
	r := e.login()
	// A synchronizing literal over the limit is refused before any of it is
	// sent: no continuation request.
	r.send("a1 APPEND INBOX {5000}\r\n")
	if l := r.line(); !strings.HasPrefix(l, "a1 NO [TOOBIG]") {
		t.Fatalf("oversized APPEND: %q", l)
	}
	r.ok("NOOP")
	// A non-synchronizing one arrives anyway: its content must never run
	// as commands.
	body := strings.Repeat("x", 990) + "\r\nz1 CREATE evil\r\n"
	r.send(fmt.Sprintf("a2 APPEND INBOX {%d+}\r\n%s\r\n", len(body)+2000, body+strings.Repeat("y", 2000)))
	if l := r.line(); !strings.HasPrefix(l, "a2 NO [TOOBIG]") {
		t.Fatalf("oversized non-sync APPEND: %q", l)
	}
	r.ok("NOOP")
	u := r.ok(`LIST "" *`)
	for _, l := range u {
		if strings.Contains(l, "evil") {
			t.Fatalf("literal data ran as a command: %q", u)
		}
	}
}

func TestNonexistentMailbox(t *testing.T) {
	e := startEnv(t, envOptions{})
	r := e.login()
	if _, st := r.cmd("SELECT nope"); !strings.HasPrefix(st, "NO [NONEXISTENT]") {
		t.Errorf("SELECT nope: %s", st)
	}
	if _, st := r.cmd("STATUS nope (MESSAGES)"); !strings.HasPrefix(st, "NO [NONEXISTENT]") {
		t.Errorf("STATUS nope: %s", st)
	}
	r.send("a1 APPEND nope {3}\r\n")
	l := r.line()
	if strings.HasPrefix(l, "+") {
		r.send("abc\r\n")
		l = r.line()
	}
	if !strings.HasPrefix(l, "a1 NO [TRYCREATE]") {
		t.Errorf("APPEND nope: %s", l)
	}
}

func TestFetchSectionsAndSeen(t *testing.T) {
	e := startEnv(t, envOptions{})
	r := e.login()
	st := r.appendMsg("INBOX", "", testMessage)
	if !strings.HasPrefix(st, "OK [APPENDUID ") {
		t.Fatalf("APPEND: %s", st)
	}
	r.ok("SELECT INBOX")
	u := r.ok("FETCH 1 (FLAGS BODY.PEEK[2.1] BODY.PEEK[2.HEADER.FIELDS (X-LONG)] BODY.PEEK[1]<0.4> BODY.PEEK[2.2.MIME])")
	want := `* 1 FETCH (FLAGS () BODY[2.1] {11}` + "\r\n" + `inner plain BODY[2.HEADER.FIELDS ("X-LONG")] {33}` + "\r\n" +
		"X-Long: folded\r\n continuation\r\n\r\n" + ` BODY[1]<0> {4}` + "\r\npart" + ` BODY[2.2.MIME] {27}` + "\r\n" + "Content-Type: text/html\r\n\r\n)"
	if len(u) != 1 || u[0] != want {
		t.Fatalf("FETCH sections:\n got %q\nwant %q", u, want)
	}
	u = r.ok("FETCH 1 BODY[1]")
	if len(u) != 1 || !strings.Contains(u[0], `\Seen`) {
		t.Fatalf("BODY[1] did not report \\Seen: %q", u)
	}
	u = r.ok("UID FETCH 1:* (UID RFC822.SIZE)")
	if len(u) != 1 || u[0] != fmt.Sprintf("* 1 FETCH (UID 1 RFC822.SIZE %d)", len(testMessage)) {
		t.Fatalf("UID FETCH: %q", u)
	}
}

func TestEnvelopeOddAddresses(t *testing.T) {
	e := startEnv(t, envOptions{})
	r := e.login()
	msg := "Date: Mon, 7 Feb 1994 21:52:25 -0800 (PST)\r\n" +
		"From: =?utf-8?q?Fr=C3=A9d?= <fred@example.test>\r\n" +
		"To: Friends: a@example.test, \"B, Esq.\" <b@example.test>;, c@example.test\r\n" +
		"Subject: =?utf-8?q?caf=C3=A9?=\r\n" +
		"Message-ID: <id1@example.test>\r\n" +
		"\r\nbody\r\n"
	r.appendMsg("INBOX", "", msg)
	r.ok("SELECT INBOX")
	u := r.ok("FETCH 1 ENVELOPE")
	want := `* 1 FETCH (ENVELOPE ("Mon, 7 Feb 1994 21:52:25 -0800 (PST)" "=?utf-8?q?caf=C3=A9?=" ` +
		`(("=?utf-8?q?Fr=C3=A9d?=" NIL "fred" "example.test")) (("=?utf-8?q?Fr=C3=A9d?=" NIL "fred" "example.test")) (("=?utf-8?q?Fr=C3=A9d?=" NIL "fred" "example.test")) ` +
		`((NIL NIL "Friends" NIL)(NIL NIL "a" "example.test")("B, Esq." NIL "b" "example.test")(NIL NIL NIL NIL)(NIL NIL "c" "example.test")) ` +
		`NIL NIL NIL "<id1@example.test>"))`
	if len(u) != 1 || u[0] != want {
		t.Fatalf("ENVELOPE:\n got %q\nwant %q", u, want)
	}
	u = r.ok("FETCH 1 BODYSTRUCTURE")
	if len(u) != 1 || !strings.HasPrefix(u[0], `* 1 FETCH (BODYSTRUCTURE ("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 6 1 `) {
		t.Fatalf("BODYSTRUCTURE: %q", u)
	}
}

func TestSearchKeys(t *testing.T) {
	e := startEnv(t, envOptions{})
	r := e.login()
	msgs := []struct{ flags, msg string }{
		{`\Seen`, "From: ann@example.test\r\nSubject: apples\r\nDate: Tue, 1 Jan 2019 10:00:00 +0000\r\n\r\nred fruit\r\n"},
		{`\Flagged $Work`, "From: bob@example.test\r\nSubject: bananas\r\nDate: Wed, 1 Jan 2020 10:00:00 +0000\r\n\r\nyellow fruit, long body " + strings.Repeat("x", 500) + "\r\n"},
		{`\Deleted`, "From: cat@example.test\r\nTo: ann@example.test\r\nSubject: cherries\r\n\r\nsmall\r\n"},
	}
	for _, m := range msgs {
		r.appendMsg("INBOX", m.flags, m.msg)
	}
	r.ok("SELECT INBOX")
	tests := []struct{ key, want string }{
		{"ALL", "* SEARCH 1 2 3"},
		{"SEEN", "* SEARCH 1"},
		{"UNSEEN", "* SEARCH 2 3"},
		{"FLAGGED DELETED", "* SEARCH"},
		{"OR FLAGGED DELETED", "* SEARCH 2 3"},
		{"NOT OR FLAGGED DELETED", "* SEARCH 1"},
		{"KEYWORD $work", "* SEARCH 2"},
		{"UNKEYWORD $Work", "* SEARCH 1 3"},
		{"FROM bob", "* SEARCH 2"},
		{"TO ann", "* SEARCH 3"},
		{"SUBJECT CHERR", "* SEARCH 3"},
		{`HEADER Subject "an"`, "* SEARCH 2"},
		{"BODY fruit", "* SEARCH 1 2"},
		{"TEXT cat", "* SEARCH 3"},
		{"LARGER 300", "* SEARCH 2"},
		{"SMALLER 300", "* SEARCH 1 3"},
		{"SENTBEFORE 1-Jun-2019", "* SEARCH 1"},
		{"SENTSINCE 1-Jan-2020", "* SEARCH 2"},
		{"SENTON 1-Jan-2020", "* SEARCH 2"},
		{"SINCE 1-Jan-2000", "* SEARCH 1 2 3"},
		{"BEFORE 1-Jan-2000", "* SEARCH"},
		{"2:*", "* SEARCH 2 3"},
		{"UID 1,3", "* SEARCH 1 3"},
		{"(SEEN) (FROM ann)", "* SEARCH 1"},
		{"NOT (SEEN FROM ann)", "* SEARCH 2 3"},
		{"OR (FROM ann) (OR FROM bob FROM cat)", "* SEARCH 1 2 3"},
		{"CHARSET UTF-8 SUBJECT apples", "* SEARCH 1"},
	}
	for _, tt := range tests {
		u := r.ok("SEARCH " + tt.key)
		if len(u) != 1 || u[0] != tt.want {
			t.Errorf("SEARCH %s = %q, want %q", tt.key, u, tt.want)
		}
	}
	u := r.ok("UID SEARCH RETURN (MIN MAX COUNT) NOT DELETED")
	if len(u) != 1 || !strings.HasSuffix(u[0], "UID MIN 1 MAX 2 COUNT 2") {
		t.Errorf("ESEARCH: %q", u)
	}
	if _, st := r.cmd("SEARCH CHARSET KOI8-R ALL"); !strings.HasPrefix(st, "NO [BADCHARSET") {
		t.Errorf("unknown charset: %s", st)
	}
}

func TestExpungeSeenBySecondSession(t *testing.T) {
	e := startEnv(t, envOptions{})
	a, b := e.login(), e.login()
	for i := 1; i <= 3; i++ {
		a.appendMsg("INBOX", "", fmt.Sprintf("Subject: m%d\r\n\r\nbody\r\n", i))
	}
	a.ok("SELECT INBOX")
	b.ok("SELECT INBOX")
	a.ok(`STORE 2 +FLAGS.SILENT (\Deleted)`)
	// B learns of the flag change at its next command.
	if u := b.ok("NOOP"); !hasLine(u, `* 2 FETCH (UID 2 FLAGS (\Deleted))`) {
		t.Errorf("B after STORE: %q", u)
	}
	if u := a.ok("EXPUNGE"); !hasLine(u, "* 2 EXPUNGE") {
		t.Errorf("A EXPUNGE: %q", u)
	}
	// RFC 3501 7.4.1: no EXPUNGE during FETCH; B still sees 3 messages.
	u := b.ok("FETCH 3 (UID)")
	if hasLine(u, "* 2 EXPUNGE") || !hasLine(u, "* 3 FETCH (UID 3)") {
		t.Errorf("B FETCH before EXPUNGE is reported: %q", u)
	}
	if u := b.ok("NOOP"); !hasLine(u, "* 2 EXPUNGE") {
		t.Errorf("B NOOP after expunge: %q", u)
	}
	// Now sequence 2 is UID 3.
	if u := b.ok("FETCH 2 (UID)"); !hasLine(u, "* 2 FETCH (UID 3)") {
		t.Errorf("B seq 2 after expunge: %q", u)
	}
	if u := b.ok("UID FETCH 2 (UID)"); len(u) != 0 {
		t.Errorf("UID FETCH of expunged UID: %q", u)
	}
}

func TestCopyMoveUIDPlus(t *testing.T) {
	e := startEnv(t, envOptions{})
	r := e.login()
	r.ok("CREATE Work")
	r.appendMsg("INBOX", "", "Subject: one\r\n\r\nx\r\n")
	r.appendMsg("INBOX", "", "Subject: two\r\n\r\nx\r\n")
	r.ok("SELECT INBOX")
	_, st := r.cmd("COPY 1:2 Work")
	if !strings.HasPrefix(st, "OK [COPYUID ") || !strings.Contains(st, " 1:2 1:2]") {
		t.Errorf("COPY: %s", st)
	}
	if _, st := r.cmd("COPY 1 Nowhere"); !strings.HasPrefix(st, "NO [TRYCREATE]") {
		t.Errorf("COPY to a missing mailbox: %s", st)
	}
	u := r.ok("UID MOVE 2 Work")
	if len(u) < 2 || !strings.HasPrefix(u[0], "* OK [COPYUID ") || !hasLine(u, "* 2 EXPUNGE") {
		t.Errorf("MOVE: %q", u)
	}
	if u := r.ok("STATUS Work (MESSAGES UIDNEXT SIZE)"); len(u) != 1 || !strings.HasPrefix(u[0], `* STATUS Work (MESSAGES 3 UIDNEXT 4 SIZE `) {
		t.Errorf("STATUS: %q", u)
	}
}

func TestMailboxCommands(t *testing.T) {
	e := startEnv(t, envOptions{})
	r := e.login()
	r.ok("CREATE a/b/c")
	r.ok("SUBSCRIBE a/b")
	u := r.ok(`LIST "" %`)
	if !hasLine(u, `* LIST (\HasChildren) "/" a`) || hasLine(u, `* LIST (\HasChildren) "/" a/b`) {
		t.Errorf("LIST %%: %q", u)
	}
	u = r.ok(`LIST "" a/*`)
	if !hasLine(u, `* LIST (\HasChildren) "/" a/b`) || !hasLine(u, `* LIST (\HasNoChildren) "/" a/b/c`) {
		t.Errorf("LIST a/*: %q", u)
	}
	if u := r.ok(`LSUB "" *`); !hasLine(u, `* LSUB () "/" a/b`) {
		t.Errorf("LSUB: %q", u)
	}
	if u := r.ok(`LIST "" ""`); !hasLine(u, `* LIST (\Noselect) "/" ""`) {
		t.Errorf(`LIST "" "": %q`, u)
	}
	r.appendMsg("INBOX", "", "Subject: keep\r\n\r\nx\r\n")
	r.ok("RENAME INBOX Old")
	if u := r.ok("STATUS INBOX (MESSAGES)"); !hasLine(u, "* STATUS INBOX (MESSAGES 0)") {
		t.Errorf("INBOX after RENAME: %q", u)
	}
	if u := r.ok("STATUS Old (MESSAGES)"); !hasLine(u, "* STATUS Old (MESSAGES 1)") {
		t.Errorf("Old after RENAME: %q", u)
	}
	if _, st := r.cmd("DELETE INBOX"); !strings.HasPrefix(st, "NO") {
		t.Errorf("DELETE INBOX: %s", st)
	}
	r.ok("DELETE Old")
	if _, st := r.cmd("CREATE a"); !strings.HasPrefix(st, "NO [ALREADYEXISTS]") {
		t.Errorf("CREATE existing: %s", st)
	}
}

func TestCondStore(t *testing.T) {
	e := startEnv(t, envOptions{})
	r := e.login()
	r.appendMsg("INBOX", "", "Subject: one\r\n\r\nx\r\n")
	u := r.ok("SELECT INBOX (CONDSTORE)")
	var highest uint64
	for _, l := range u {
		fmt.Sscanf(l, "* OK [HIGHESTMODSEQ %d]", &highest)
	}
	if highest == 0 {
		t.Fatalf("no HIGHESTMODSEQ: %q", u)
	}
	u = r.ok(`STORE 1 +FLAGS (\Flagged)`)
	if len(u) != 1 || !strings.Contains(u[0], "MODSEQ (") {
		t.Errorf("STORE with CONDSTORE: %q", u)
	}
	_, st := r.cmd(fmt.Sprintf(`STORE 1 (UNCHANGEDSINCE %d) +FLAGS (\Seen)`, highest))
	if !strings.HasPrefix(st, "OK [MODIFIED 1]") {
		t.Errorf("conditional STORE: %s", st)
	}
	if u := r.ok(fmt.Sprintf("FETCH 1:* (FLAGS) (CHANGEDSINCE %d)", highest)); len(u) != 1 {
		t.Errorf("CHANGEDSINCE: %q", u)
	}
	if u := r.ok(fmt.Sprintf("SEARCH MODSEQ %d", highest+1)); len(u) != 1 || !strings.HasPrefix(u[0], "* SEARCH 1 (MODSEQ ") {
		t.Errorf("SEARCH MODSEQ: %q", u)
	}
}

func TestIdlePushFromAnotherStore(t *testing.T) {
	e := startEnv(t, envOptions{})
	r := e.login()
	r.ok("SELECT INBOX")
	r.send("i1 IDLE\r\n")
	if l := r.line(); !strings.HasPrefix(l, "+") {
		t.Fatalf("IDLE: %q", l)
	}
	// Another process delivers through its own store on the same database.
	other := openMailboxes(t, e.dbPath, e.blobDir)
	start := time.Now()
	if _, err := other.Deliver(context.Background(), []int64{e.userID}, strings.NewReader("Subject: pushed\r\n\r\nhi\r\n"), mailbox.DeliverOptions{}); err != nil {
		t.Fatal(err)
	}
	r.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if l := r.line(); l != "* 1 EXISTS" {
		t.Fatalf("IDLE push: %q", l)
	}
	// The store polls every 100ms: the bound only tells a push from a
	// client-side timeout, with room for a loaded machine's fsync.
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("IDLE push took %v, want well under the 5s read deadline", d)
	}
	r.send("DONE\r\n")
	if _, st := r.readUntil("i1"); !strings.HasPrefix(st, "OK") {
		t.Fatalf("IDLE end: %s", st)
	}
}

func TestConnectionLimits(t *testing.T) {
	e := startEnv(t, envOptions{maxConnsPerIP: 3, maxConnsPerUser: 1})
	a := e.login()
	b := e.dial()
	if _, st := b.cmd(fmt.Sprintf("LOGIN alice %q", testPassword)); !strings.HasPrefix(st, "NO [LIMIT]") {
		t.Errorf("second login over the per-user limit: %s", st)
	}
	e.dial()
	c, err := net.Dial("tcp", e.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 200)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, _ := c.Read(buf)
	if !strings.HasPrefix(string(buf[:n]), "* BYE") {
		t.Errorf("connection over the per-IP limit got %q", buf[:n])
	}
	a.ok("NOOP")
}
