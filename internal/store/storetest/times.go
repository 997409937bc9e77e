package storetest

import (
	"testing"
	"time"

	"github.com/cabalmail/cabalmail/internal/store"
)

// testTimes checks that times survive a round trip: the same instant comes
// back, in UTC, whatever zone the caller used, with at least microsecond
// precision, and a creation time the caller sets (an import of existing
// data) is kept. The value a create call sets on its argument is the value a
// later read returns.
func testTimes(t *testing.T, open opener) {
	s := open(t)
	c := ctx(t)
	zone := time.FixedZone("UTC+5:30", 5*3600+1800)
	// The monotonic reading of time.Now must not leak into comparisons.
	for _, at := range []time.Time{
		time.Date(1999, 12, 31, 23, 59, 59, 999999000, zone),
		time.Date(2106, 2, 7, 6, 28, 16, 1000, time.UTC), // past 32-bit seconds
		time.Now().In(zone).Truncate(time.Microsecond),
	} {
		u := store.User{Name: "u" + at.Format("20060102150405.000000"), CreatedAt: at}
		noErr(t, "create user", s.CreateUser(c, &u))
		wantTime(t, "user created (returned)", u.CreatedAt, at)
		got, err := s.UserByID(c, u.ID)
		noErr(t, "user", err)
		wantTime(t, "user created (stored)", got.CreatedAt, at)

		d := store.Domain{Apex: "d" + u.Name + ".test", CreatedAt: at}
		noErr(t, "create domain", s.CreateDomain(c, &d))
		gd, err := s.DomainByApex(c, d.Apex)
		noErr(t, "domain", err)
		wantTime(t, "domain created", gd.CreatedAt, at)

		a := newAddress("x", "sub", d.Apex, u)
		a.CreatedAt = at
		a.Holders[0].CreatedAt = at.Add(time.Second)
		noErr(t, "create address", s.CreateAddress(c, &a))
		wantTime(t, "address created (returned)", a.CreatedAt, at)
		wantTime(t, "address changed defaults to created", a.ChangedAt, at)
		noErr(t, "count", s.CountReceived(c, a.Address, at.Add(time.Minute)))
		ga, err := s.AddressByName(c, a.Address)
		noErr(t, "address", err)
		wantTime(t, "address created", ga.CreatedAt, at)
		wantTime(t, "address changed", ga.ChangedAt, at)
		wantTime(t, "holding created", ga.Holders[0].CreatedAt, at.Add(time.Second))
		wantTime(t, "last received", ga.Holders[0].LastReceived, at.Add(time.Minute))

		e := store.Event{Time: at, Tier: "smtp-in", QueueID: u.Name}
		noErr(t, "add event", s.AddEvent(c, &e))
		wantTime(t, "event time (returned)", e.Time, at)
		evs, err := s.ListEvents(c, store.EventFilter{Since: at})
		noErr(t, "events", err)
		found := false
		for _, ge := range evs {
			if ge.ID == e.ID {
				found = true
				wantTime(t, "event time", ge.Time, at)
			}
		}
		if !found {
			t.Errorf("event at %v not listed since that instant", at)
		}

		ae := store.AuditEntry{Time: at, Actor: "operator", Action: "test", Target: u.Name}
		noErr(t, "add audit", s.AddAudit(c, &ae))
		list, err := s.ListAudit(c, 0)
		noErr(t, "audit", err)
		for _, ge := range list {
			if ge.ID == ae.ID {
				wantTime(t, "audit time", ge.Time, at)
			}
		}
	}

	// Sub-microsecond digits may be dropped, but not more.
	fine := time.Date(2030, 6, 1, 12, 0, 0, 123456789, time.UTC)
	e := store.Event{Time: fine, Tier: "smtp-out"}
	noErr(t, "add event", s.AddEvent(c, &e))
	evs, err := s.ListEvents(c, store.EventFilter{Tier: "smtp-out"})
	noErr(t, "events", err)
	if len(evs) != 1 {
		t.Fatalf("events %+v", evs)
	}
	if d := evs[0].Time.Sub(fine); d <= -time.Microsecond || d >= time.Microsecond {
		t.Errorf("event time %v, want %v to the microsecond", evs[0].Time, fine)
	}
	wantTime(t, "returned equals stored", evs[0].Time, e.Time)
}
