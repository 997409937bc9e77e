package storetest

import (
	"bytes"
	"sync"
	"testing"
	"time"

	"github.com/cabalmail/cabalmail/internal/store"
)

// testSessions covers web sessions: expiry, deletion and the cascade from
// their user.
func testSessions(t *testing.T, open opener) {
	s := open(t)
	c := ctx(t)
	alice := mustUser(t, s, "alice")
	bob := mustUser(t, s, "bob")
	now := time.Now().UTC()

	sess := store.Session{Hash: "h1", UserID: alice.ID, CSRF: "c1", MFA: true, ExpiresAt: now.Add(time.Hour)}
	noErr(t, "create", s.CreateSession(c, &sess))
	if sess.ID == 0 {
		t.Error("CreateSession left ID unset")
	}
	wantRecent(t, "session created", sess.CreatedAt)
	got, err := s.SessionByHash(c, "h1", now)
	noErr(t, "by hash", err)
	if got.UserID != alice.ID || got.CSRF != "c1" || !got.MFA || got.ID != sess.ID {
		t.Errorf("SessionByHash = %+v, want %+v", got, sess)
	}
	wantTime(t, "expiry", got.ExpiresAt, sess.ExpiresAt)
	_, err = s.SessionByHash(c, "h1", now.Add(2*time.Hour))
	wantErr(t, "expired", err, store.ErrNotFound)
	_, err = s.SessionByHash(c, "nope", now)
	wantErr(t, "unknown", err, store.ErrNotFound)

	wantErr(t, "duplicate hash", s.CreateSession(c, &store.Session{Hash: "h1", UserID: bob.ID, CSRF: "x", ExpiresAt: now.Add(time.Hour)}), store.ErrExists)
	wantErr(t, "unknown user", s.CreateSession(c, &store.Session{Hash: "h9", UserID: alice.ID + bob.ID + 100, CSRF: "x", ExpiresAt: now.Add(time.Hour)}), store.ErrNotFound)
	wantInvalid(t, "no csrf", s.CreateSession(c, &store.Session{Hash: "h8", UserID: bob.ID, ExpiresAt: now.Add(time.Hour)}))
	wantInvalid(t, "no hash", s.CreateSession(c, &store.Session{UserID: bob.ID, CSRF: "x", ExpiresAt: now.Add(time.Hour)}))
	wantInvalid(t, "no expiry", s.CreateSession(c, &store.Session{Hash: "h7", UserID: bob.ID, CSRF: "x"}))

	noErr(t, "second", s.CreateSession(c, &store.Session{Hash: "h2", UserID: alice.ID, CSRF: "c2", ExpiresAt: now.Add(time.Minute)}))
	noErr(t, "bob's", s.CreateSession(c, &store.Session{Hash: "hb", UserID: bob.ID, CSRF: "cb", ExpiresAt: now.Add(time.Hour)}))
	n, err := s.DeleteExpiredSessions(c, now.Add(30*time.Minute))
	noErr(t, "delete expired", err)
	if n != 1 {
		t.Errorf("DeleteExpiredSessions removed %d, want 1", n)
	}
	noErr(t, "delete", s.DeleteSession(c, "h1"))
	wantErr(t, "delete again", s.DeleteSession(c, "h1"), store.ErrNotFound)
	_, err = s.SessionByHash(c, "h1", now)
	wantErr(t, "deleted", err, store.ErrNotFound)

	noErr(t, "alice again", s.CreateSession(c, &store.Session{Hash: "h3", UserID: alice.ID, CSRF: "c3", ExpiresAt: now.Add(time.Hour)}))
	noErr(t, "delete user sessions", s.DeleteUserSessions(c, alice.ID))
	_, err = s.SessionByHash(c, "h3", now)
	wantErr(t, "after DeleteUserSessions", err, store.ErrNotFound)
	if _, err := s.SessionByHash(c, "hb", now); err != nil {
		t.Errorf("bob's session went with alice's: %v", err)
	}
	_, err = s.DeleteUser(c, bob.ID)
	noErr(t, "delete bob", err)
	_, err = s.SessionByHash(c, "hb", now)
	wantErr(t, "session of deleted user", err, store.ErrNotFound)
}

// testInvites covers invite codes: single use under concurrency, expiry.
func testInvites(t *testing.T, open opener) {
	s := open(t)
	c := ctx(t)
	now := time.Now().UTC().Round(0)

	inv := store.Invite{Hash: "i1", CreatedBy: "admin", Note: "for carol", ExpiresAt: now.Add(time.Hour)}
	noErr(t, "create", s.CreateInvite(c, &inv))
	if inv.ID == 0 {
		t.Error("CreateInvite left ID unset")
	}
	wantErr(t, "duplicate", s.CreateInvite(c, &store.Invite{Hash: "i1", CreatedBy: "admin", ExpiresAt: now.Add(time.Hour)}), store.ErrExists)
	wantInvalid(t, "no creator", s.CreateInvite(c, &store.Invite{Hash: "i2", ExpiresAt: now.Add(time.Hour)}))
	wantInvalid(t, "no expiry", s.CreateInvite(c, &store.Invite{Hash: "i2", CreatedBy: "admin"}))
	old := store.Invite{Hash: "old", CreatedBy: "admin", CreatedAt: now.Add(-2 * time.Hour), ExpiresAt: now.Add(-time.Hour)}
	noErr(t, "create expired", s.CreateInvite(c, &old))

	list, err := s.ListInvites(c)
	noErr(t, "list", err)
	if len(list) != 2 || list[0].Hash != "i1" || list[1].Hash != "old" || list[0].Note != "for carol" || !list[0].UsedAt.IsZero() {
		t.Errorf("ListInvites = %+v, want i1 then old, unused", list)
	}

	_, err = s.UseInvite(c, "old", "dave", now)
	wantErr(t, "expired invite", err, store.ErrNotFound)
	_, err = s.UseInvite(c, "unknown", "dave", now)
	wantErr(t, "unknown invite", err, store.ErrNotFound)

	// Two sign-ups race for one code: exactly one wins.
	var wg sync.WaitGroup
	wins := make(chan string, 2)
	for _, who := range []string{"carol", "eve"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if used, err := s.UseInvite(c, "i1", who, now); err == nil {
				if used.UsedBy != who {
					t.Errorf("UseInvite returned used_by %q, want %q", used.UsedBy, who)
				}
				wins <- who
			}
		}()
	}
	wg.Wait()
	close(wins)
	var winners []string
	for w := range wins {
		winners = append(winners, w)
	}
	if len(winners) != 1 {
		t.Fatalf("invite used by %v, want exactly one", winners)
	}
	list, err = s.ListInvites(c)
	noErr(t, "list after use", err)
	if list[0].UsedBy != winners[0] {
		t.Errorf("used_by = %q, want %q", list[0].UsedBy, winners[0])
	}
	wantTime(t, "used at", list[0].UsedAt, now)

	noErr(t, "delete", s.DeleteInvite(c, old.ID))
	wantErr(t, "delete again", s.DeleteInvite(c, old.ID), store.ErrNotFound)
}

// testTOTP covers TOTP secrets and the no-reuse rule.
func testTOTP(t *testing.T, open opener) {
	s := open(t)
	c := ctx(t)
	alice := mustUser(t, s, "alice")

	_, err := s.TOTPByUser(c, alice.ID)
	wantErr(t, "no secret yet", err, store.ErrNotFound)
	wantErr(t, "step without secret", s.UseTOTPStep(c, alice.ID, 5), store.ErrNotFound)
	wantInvalid(t, "empty secret", s.SetTOTP(c, &store.TOTP{UserID: alice.ID}))
	wantErr(t, "unknown user", s.SetTOTP(c, &store.TOTP{UserID: alice.ID + 100, Secret: []byte("x")}), store.ErrNotFound)

	secret := []byte("12345678901234567890")
	noErr(t, "set", s.SetTOTP(c, &store.TOTP{UserID: alice.ID, Secret: secret}))
	got, err := s.TOTPByUser(c, alice.ID)
	noErr(t, "get", err)
	if !bytes.Equal(got.Secret, secret) || got.Enabled || got.LastStep != 0 {
		t.Errorf("TOTPByUser = %+v, want the secret, not enabled", got)
	}
	noErr(t, "use step", s.UseTOTPStep(c, alice.ID, 100))
	wantErr(t, "replay", s.UseTOTPStep(c, alice.ID, 100), store.ErrConflict)
	wantErr(t, "older step", s.UseTOTPStep(c, alice.ID, 99), store.ErrConflict)
	noErr(t, "next step", s.UseTOTPStep(c, alice.ID, 101))
	got, err = s.TOTPByUser(c, alice.ID)
	noErr(t, "get after use", err)
	if !got.Enabled || got.LastStep != 101 {
		t.Errorf("after use: %+v, want enabled at step 101", got)
	}

	noErr(t, "re-enrol", s.SetTOTP(c, &store.TOTP{UserID: alice.ID, Secret: []byte("other")}))
	got, _ = s.TOTPByUser(c, alice.ID)
	if got.Enabled || string(got.Secret) != "other" {
		t.Errorf("re-enrol kept the old state: %+v", got)
	}
	noErr(t, "delete", s.DeleteTOTP(c, alice.ID))
	_, err = s.TOTPByUser(c, alice.ID)
	wantErr(t, "deleted", err, store.ErrNotFound)
}

// testTokenListing covers listing and deleting single API tokens.
func testTokenListing(t *testing.T, open opener) {
	s := open(t)
	c := ctx(t)
	alice := mustUser(t, s, "alice")
	bob := mustUser(t, s, "bob")
	t1 := store.Token{UserID: alice.ID, Hash: "a1"}
	t2 := store.Token{UserID: alice.ID, Hash: "a2"}
	tb := store.Token{UserID: bob.ID, Hash: "b1"}
	for _, tok := range []*store.Token{&t1, &t2, &tb} {
		noErr(t, "create", s.CreateToken(c, tok))
	}
	list, err := s.ListTokens(c, alice.ID)
	noErr(t, "list", err)
	if len(list) != 2 || list[0].ID != t1.ID || list[1].ID != t2.ID {
		t.Errorf("ListTokens = %+v, want a1, a2", list)
	}
	wantErr(t, "delete another user's token", s.DeleteToken(c, alice.ID, tb.ID), store.ErrNotFound)
	if _, err := s.UserByToken(c, "b1"); err != nil {
		t.Errorf("bob's token went away: %v", err)
	}
	noErr(t, "delete", s.DeleteToken(c, alice.ID, t1.ID))
	wantErr(t, "delete again", s.DeleteToken(c, alice.ID, t1.ID), store.ErrNotFound)
	_, err = s.UserByToken(c, "a1")
	wantErr(t, "deleted token", err, store.ErrNotFound)
	list, _ = s.ListTokens(c, alice.ID)
	if len(list) != 1 || list[0].ID != t2.ID {
		t.Errorf("after delete: %+v, want a2 only", list)
	}
}
