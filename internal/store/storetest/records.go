package storetest

import (
	"testing"
	"time"

	"github.com/cabalmail/cabalmail/internal/store"
)

func testTokens(t *testing.T, open opener) {
	s := open(t)
	c := ctx(t)
	alice := mustUser(t, s, "alice")
	bob := mustUser(t, s, "bob")

	tok := store.Token{UserID: alice.ID, Hash: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"}
	noErr(t, "create", s.CreateToken(c, &tok))
	if tok.ID == 0 {
		t.Error("CreateToken left ID unset")
	}
	wantRecent(t, "token created", tok.CreatedAt)
	tok2 := store.Token{UserID: alice.ID, Hash: "second"}
	noErr(t, "create second", s.CreateToken(c, &tok2))
	tokB := store.Token{UserID: bob.ID, Hash: "bobs"}
	noErr(t, "create bob's", s.CreateToken(c, &tokB))

	for _, tc := range []struct {
		hash string
		want store.User
	}{{tok.Hash, alice}, {"second", alice}, {"bobs", bob}} {
		u, err := s.UserByToken(c, tc.hash)
		noErr(t, "user by token", err)
		if u != tc.want {
			t.Errorf("UserByToken(%s) = %+v, want %+v", tc.hash, u, tc.want)
		}
	}

	wantErr(t, "duplicate hash", s.CreateToken(c, &store.Token{UserID: bob.ID, Hash: tok.Hash}), store.ErrExists)
	if u, _ := s.UserByToken(c, tok.Hash); u.ID != alice.ID {
		t.Errorf("duplicate token changed the owner to #%d", u.ID)
	}
	wantErr(t, "unknown user", s.CreateToken(c, &store.Token{UserID: alice.ID + bob.ID + 100, Hash: "x"}), store.ErrNotFound)
	_, err := s.UserByToken(c, "x")
	wantErr(t, "refused token", err, store.ErrNotFound)
	wantInvalid(t, "empty hash", s.CreateToken(c, &store.Token{UserID: alice.ID}))
	_, err = s.UserByToken(c, "")
	wantErr(t, "empty hash lookup", err, store.ErrNotFound)
	_, err = s.UserByToken(c, "unknown")
	wantErr(t, "unknown hash", err, store.ErrNotFound)

	noErr(t, "delete alice's", s.DeleteTokens(c, alice.ID))
	for _, h := range []string{tok.Hash, "second"} {
		_, err := s.UserByToken(c, h)
		wantErr(t, "deleted token", err, store.ErrNotFound)
	}
	if u, err := s.UserByToken(c, "bobs"); err != nil || u.ID != bob.ID {
		t.Errorf("bob's token after deleting alice's: %+v, %v", u, err)
	}
	noErr(t, "delete with none left", s.DeleteTokens(c, alice.ID))
}

func testEvents(t *testing.T, open opener) {
	s := open(t)
	c := ctx(t)

	evs, err := s.ListEvents(c, store.EventFilter{})
	noErr(t, "list empty", err)
	if len(evs) != 0 {
		t.Errorf("events in a new store: %+v", evs)
	}

	base := time.Date(2031, 5, 6, 7, 8, 9, 10000, time.UTC)
	in := []store.Event{
		{Time: base, Tier: "smtp-in", QueueID: "q1", Rcpt: "a@x1.example.test", Delay: 3 * time.Second, Relay: "127.0.0.1", DSN: "2.0.0", Status: "Sent", Detail: "250 ok"},
		{Time: base.Add(time.Minute), Tier: "smtp-out", QueueID: "q2", Rcpt: "b@remote.test", Delay: 10 * time.Minute, Relay: "mx.remote.test. [192.0.2.7]", DSN: "4.7.1", Status: "Deferred", Detail: "451 4.7.1 greylisted"},
		{Time: base.Add(2 * time.Minute), Tier: "smtp-out", QueueID: "q3", Rcpt: "c@remote.test", Delay: 1500 * time.Millisecond, DSN: "5.1.1", Status: "Bounced", Detail: "550 5.1.1 user unknown"},
		// Same instant as the one before: ties come newest-inserted first.
		{Time: base.Add(2 * time.Minute), Tier: "smtp-in", QueueID: "q4", Rcpt: "d@x1.example.test", DSN: "2.0.0", Status: "Sent"},
	}
	for i := range in {
		noErr(t, "add", s.AddEvent(c, &in[i]))
		if in[i].ID == 0 {
			t.Error("AddEvent left ID unset")
		}
	}
	// Insertion order differs from time order.
	early := store.Event{Time: base.Add(-time.Hour), Tier: "smtp-out", QueueID: "q0", Status: "Sent"}
	noErr(t, "add early", s.AddEvent(c, &early))
	wantInvalid(t, "no tier", s.AddEvent(c, &store.Event{Status: "Sent"}))

	ids := func(evs []store.Event) []string {
		var q []string
		for _, e := range evs {
			q = append(q, e.QueueID)
		}
		return q
	}
	for _, tc := range []struct {
		name string
		f    store.EventFilter
		want []string
	}{
		{"all", store.EventFilter{}, []string{"q4", "q3", "q2", "q1", "q0"}},
		{"since inclusive", store.EventFilter{Since: base.Add(time.Minute)}, []string{"q4", "q3", "q2"}},
		{"since in another zone", store.EventFilter{Since: base.Add(time.Minute).In(time.FixedZone("X", -5*3600))}, []string{"q4", "q3", "q2"}},
		{"tier", store.EventFilter{Tier: "smtp-out"}, []string{"q3", "q2", "q0"}},
		{"tier and since", store.EventFilter{Tier: "smtp-in", Since: base.Add(time.Second)}, []string{"q4"}},
		{"limit", store.EventFilter{Limit: 2}, []string{"q4", "q3"}},
		{"all filters", store.EventFilter{Tier: "smtp-out", Since: base, Limit: 1}, []string{"q3"}},
		{"unknown tier", store.EventFilter{Tier: "imap"}, nil},
		{"future", store.EventFilter{Since: base.Add(time.Hour)}, nil},
		{"since long ago", store.EventFilter{Since: time.Date(1, 1, 1, 0, 0, 1, 0, time.UTC)}, []string{"q4", "q3", "q2", "q1", "q0"}},
		{"since far future", store.EventFilter{Since: time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)}, nil},
	} {
		got, err := s.ListEvents(c, tc.f)
		noErr(t, tc.name, err)
		wantStrings(t, "ListEvents "+tc.name, ids(got), tc.want)
	}

	all, _ := s.ListEvents(c, store.EventFilter{})
	for _, e := range all {
		if e.QueueID != "q2" {
			continue
		}
		want := in[1]
		if e.ID != want.ID || e.Tier != want.Tier || e.Rcpt != want.Rcpt || e.Delay != want.Delay || e.Relay != want.Relay ||
			e.DSN != want.DSN || e.Status != want.Status || e.Detail != want.Detail {
			t.Errorf("event round trip: got %+v, want %+v", e, want)
		}
		wantTime(t, "event time", e.Time, want.Time)
	}

	// An unset time means now.
	now := store.Event{Tier: "imap", Status: "Sent"}
	noErr(t, "add without time", s.AddEvent(c, &now))
	wantRecent(t, "event default time", now.Time)
}

func testSettings(t *testing.T, open opener) {
	s := open(t)
	c := ctx(t)
	_, err := s.Setting(c, "inbound.tempfail")
	wantErr(t, "unset", err, store.ErrNotFound)

	noErr(t, "set", s.SetSetting(c, "inbound.tempfail", "until=2030-01-01T00:00:00Z"))
	noErr(t, "set other", s.SetSetting(c, "other", ""))
	v, err := s.Setting(c, "inbound.tempfail")
	noErr(t, "get", err)
	if v != "until=2030-01-01T00:00:00Z" {
		t.Errorf("setting = %q", v)
	}
	noErr(t, "overwrite", s.SetSetting(c, "inbound.tempfail", "on"))
	if v, _ := s.Setting(c, "inbound.tempfail"); v != "on" {
		t.Errorf("after overwrite = %q, want on", v)
	}
	// An empty value is a value, not an unset key.
	if v, err := s.Setting(c, "other"); err != nil || v != "" {
		t.Errorf("empty value: %q, %v", v, err)
	}
	wantInvalid(t, "empty key", s.SetSetting(c, "", "x"))

	noErr(t, "delete", s.DeleteSetting(c, "inbound.tempfail"))
	_, err = s.Setting(c, "inbound.tempfail")
	wantErr(t, "deleted", err, store.ErrNotFound)
	noErr(t, "delete unset", s.DeleteSetting(c, "inbound.tempfail"))
	if _, err := s.Setting(c, "other"); err != nil {
		t.Errorf("delete removed another key: %v", err)
	}
}

func testAudit(t *testing.T, open opener) {
	s := open(t)
	c := ctx(t)
	list, err := s.ListAudit(c, 0)
	noErr(t, "list empty", err)
	if len(list) != 0 {
		t.Errorf("audit in a new store: %+v", list)
	}
	base := time.Date(2019, 12, 31, 23, 59, 59, 999999000, time.UTC)
	entries := []store.AuditEntry{
		{Time: base, Actor: "operator", Action: "user.add", Target: "alice"},
		{Time: base.Add(time.Second), Actor: "alice", Action: "address.new", Target: "shop@x1.example.test", Detail: "comment=shop"},
		{Actor: "operator", Action: "address.revoke", Target: "shop@x1.example.test"},
	}
	for i := range entries {
		noErr(t, "add", s.AddAudit(c, &entries[i]))
		if entries[i].ID == 0 {
			t.Error("AddAudit left ID unset")
		}
	}
	wantRecent(t, "audit default time", entries[2].Time)
	wantInvalid(t, "no action", s.AddAudit(c, &store.AuditEntry{Actor: "operator"}))
	wantInvalid(t, "no actor", s.AddAudit(c, &store.AuditEntry{Action: "x"}))

	list, err = s.ListAudit(c, 0)
	noErr(t, "list", err)
	if len(list) != 3 {
		t.Fatalf("ListAudit returned %d entries, want 3", len(list))
	}
	for i, want := range []store.AuditEntry{entries[2], entries[1], entries[0]} {
		got := list[i]
		if got.ID != want.ID || got.Actor != want.Actor || got.Action != want.Action || got.Target != want.Target || got.Detail != want.Detail {
			t.Errorf("entry %d: got %+v, want %+v", i, got, want)
		}
		wantTime(t, "audit time", got.Time, want.Time)
	}
	list, err = s.ListAudit(c, 2)
	noErr(t, "list limited", err)
	if len(list) != 2 || list[0].ID != entries[2].ID || list[1].ID != entries[1].ID {
		t.Errorf("ListAudit(2) = %+v", list)
	}
}
