package imapd

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cabalmail/cabalmail/internal/accounts"
	"github.com/cabalmail/cabalmail/internal/store"
	"github.com/cabalmail/cabalmail/internal/store/sqlite"
)

// TestLoginCheckFailureIsTemporary: when the credentials cannot be checked
// (here the accounts' store is gone), LOGIN answers NO [UNAVAILABLE], not a
// wrong password, and the client is not counted as guessing.
func TestLoginCheckFailureIsTemporary(t *testing.T) {
	e := startEnv(t, envOptions{})
	r := e.dial()
	if err := e.accStore.Close(); err != nil {
		t.Fatal(err)
	}
	_, st := r.cmd(fmt.Sprintf("LOGIN %s %q", testUser, testPassword))
	if !strings.HasPrefix(st, "NO [UNAVAILABLE]") {
		t.Errorf("LOGIN with the accounts store closed: %q; want NO [UNAVAILABLE]", st)
	}
	_, st = r.cmd(`AUTHENTICATE PLAIN AGFsaWNlAGNvcnJlY3QgaG9yc2UgYmF0dGVyeSBzdGFwbGU=`)
	if !strings.HasPrefix(st, "NO [UNAVAILABLE]") {
		t.Errorf("AUTHENTICATE with the accounts store closed: %q; want NO [UNAVAILABLE]", st)
	}
	if n := e.srv.LoginFailures(); n != 0 {
		t.Errorf("%d login failures counted for logins that could not be checked", n)
	}
}

func TestRefused(t *testing.T) {
	tests := []struct {
		err  error
		want bool
	}{
		{fmt.Errorf("x: %w", accounts.ErrBadCredentials), true},
		{fmt.Errorf("x: %w", accounts.ErrDisabled), true},
		{fmt.Errorf("x: %w", accounts.ErrPending), true},
		{errors.Join(accounts.ErrBusy, context.DeadlineExceeded), false},
		{fmt.Errorf("accounts: authenticate: %w", context.Canceled), false},
		{errors.New("sqlite: database is locked"), false},
	}
	for _, tt := range tests {
		if got := refused(tt.err); got != tt.want {
			t.Errorf("refused(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}

// TestLoginWarmsInbox: a login alone, before any other command, has the
// mailbox store load the user's INBOX (which, for a new user, first
// creates it).
func TestLoginWarmsInbox(t *testing.T) {
	e := startEnv(t, envOptions{})
	ctx := context.Background()
	st, err := sqlite.Open(ctx, e.dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.MailboxByName(ctx, e.userID, "INBOX"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("before login, INBOX lookup = %v; want not found", err)
	}
	e.login()
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := st.MailboxByName(ctx, e.userID, "INBOX")
		if err == nil {
			break
		}
		if !errors.Is(err, store.ErrNotFound) {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatal("the login did not warm the INBOX")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
