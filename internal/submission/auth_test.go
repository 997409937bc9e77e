package submission

import (
	"testing"
)

// TestLoginCheckFailureIsTemporary: when the credentials cannot be checked
// (here the store is gone), AUTH answers 454 4.7.0, a temporary failure,
// not 535 bad credentials, and nothing is counted against the client.
func TestLoginCheckFailureIsTemporary(t *testing.T) {
	e := newTestEnv(t, nil)
	c := e.dial(true)
	c.must("EHLO client.example", "250")
	if err := e.store.Close(); err != nil {
		t.Fatal(err)
	}
	for range authFailuresPerConn + 1 {
		c.must(plainAuth("alice", "password-alice"), "454 4.7.0")
	}
	if n := e.srv.failures.add("127.0.0.1"); n != 1 {
		t.Errorf("%d failures recorded for the address after logins that could not be checked; want none before this one", n-1)
	}
}
