package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/cabalmail/cabalmail/internal/store"
)

func runSuppression(t *testing.T, open opener) {
	t.Run("Suppression", func(t *testing.T) { testSuppression(t, open) })
	t.Run("SuppressionInvalid", func(t *testing.T) { testSuppressionInvalid(t, open) })
	t.Run("ProviderAttempts", func(t *testing.T) { testProviderAttempts(t, open) })
	t.Run("ProviderStates", func(t *testing.T) { testProviderStates(t, open) })
	t.Run("AcceptedRecipients", func(t *testing.T) { testAcceptedRecipients(t, open) })
	t.Run("Quarantine", func(t *testing.T) { testQuarantine(t, open) })
}

func testSuppression(t *testing.T, open opener) {
	s := open(t)
	c := ctx(t)
	t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	e := store.Suppression{UserID: 7, Address: "Gone@Example.COM", Reason: "recipient-unknown", Code: "5.1.1",
		Text: "550 5.1.1 no such user", Provider: "example.com", QueueID: "00112233aabbccdd", CreatedAt: t0}
	if err := s.AddSuppression(c, &e); err != nil {
		t.Fatal(err)
	}
	if e.ID == 0 || e.Address != "gone@example.com" {
		t.Fatalf("after add: %+v", e)
	}
	dup := store.Suppression{UserID: 7, Address: "gone@example.com", CreatedAt: t0.Add(time.Minute)}
	if err := s.AddSuppression(c, &dup); !errors.Is(err, store.ErrExists) {
		t.Fatalf("second entry in force: %v, want ErrExists", err)
	}
	// Another user's list is separate.
	other := store.Suppression{UserID: 8, Address: "gone@example.com", Reason: "mailbox-disabled", CreatedAt: t0.Add(2 * time.Minute)}
	if err := s.AddSuppression(c, &other); err != nil {
		t.Fatal(err)
	}
	got, err := s.ActiveSuppression(c, 7, "GONE@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != e.ID || got.Code != "5.1.1" || got.Text != e.Text || got.Provider != "example.com" || got.QueueID != e.QueueID ||
		!got.CreatedAt.Equal(t0) || !got.Active() {
		t.Fatalf("active suppression = %+v, want %+v", got, e)
	}
	if _, err := s.ActiveSuppression(c, 9, "gone@example.com"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("user without entry: %v, want ErrNotFound", err)
	}
	// Release one user's entry: it stays, with who and when.
	rel := t0.Add(time.Hour)
	n, err := s.ReleaseSuppressions(c, 7, "gone@example.com", "operator", rel)
	if err != nil || n != 1 {
		t.Fatalf("release: %d, %v", n, err)
	}
	if _, err := s.ActiveSuppression(c, 7, "gone@example.com"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("after release: %v, want ErrNotFound", err)
	}
	if _, err := s.ReleaseSuppressions(c, 7, "gone@example.com", "operator", rel); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("release twice: %v, want ErrNotFound", err)
	}
	all, err := s.ListSuppressions(c, store.SuppressionFilter{Address: "gone@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 2 || all[0].UserID != 8 || all[1].UserID != 7 {
		t.Fatalf("list = %+v, want user 8's then user 7's", all)
	}
	if all[1].Active() || !all[1].ReleasedAt.Equal(rel) || all[1].ReleasedBy != "operator" {
		t.Fatalf("released entry = %+v", all[1])
	}
	// A new entry after release is allowed; the history keeps both.
	again := store.Suppression{UserID: 7, Address: "gone@example.com", CreatedAt: t0.Add(2 * time.Hour)}
	if err := s.AddSuppression(c, &again); err != nil {
		t.Fatal(err)
	}
	mine, err := s.ListSuppressions(c, store.SuppressionFilter{UserID: 7})
	if err != nil || len(mine) != 2 {
		t.Fatalf("user 7 history: %v, %v", mine, err)
	}
	active, err := s.ListSuppressions(c, store.SuppressionFilter{ActiveOnly: true})
	if err != nil || len(active) != 2 {
		t.Fatalf("active entries: %v, %v", active, err)
	}
	// Release for every user.
	if n, err := s.ReleaseSuppressions(c, 0, "gone@example.com", "alice", rel); err != nil || n != 2 {
		t.Fatalf("release for all: %d, %v", n, err)
	}
	if lim, err := s.ListSuppressions(c, store.SuppressionFilter{Limit: 1}); err != nil || len(lim) != 1 {
		t.Fatalf("limit 1: %v, %v", lim, err)
	}
}

func testSuppressionInvalid(t *testing.T, open opener) {
	s := open(t)
	c := ctx(t)
	for _, e := range []store.Suppression{
		{Address: ""},
		{Address: "no-at-sign"},
		{Address: "a b@example.com"},
		{Address: "x@example.com", UserID: -1},
		{Address: "x@example.com", ReleasedAt: time.Now()},
	} {
		if err := s.AddSuppression(c, &e); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("add %+v: %v, want ErrInvalid", e, err)
		}
	}
	if _, err := s.ReleaseSuppressions(c, 0, "x@example.com", "", time.Now()); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("release without a name: %v, want ErrInvalid", err)
	}
	if all, err := s.ListSuppressions(c, store.SuppressionFilter{}); err != nil || len(all) != 0 {
		t.Fatalf("after refused input: %v, %v", all, err)
	}
}

func testProviderAttempts(t *testing.T, open opener) {
	s := open(t)
	c := ctx(t)
	t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	add := func(p string, at time.Time, result string, known bool) {
		t.Helper()
		if err := s.RecordProviderAttempt(c, store.ProviderAttempt{Provider: p, Time: at, Result: result, KnownUnknown: known}); err != nil {
			t.Fatal(err)
		}
	}
	add("example.com", t0, store.AttemptSent, false)
	add("example.com", t0.Add(time.Minute), store.AttemptSent, false)
	add("example.com", t0.Add(2*time.Minute), store.AttemptBounced, true)
	add("example.com", t0.Add(3*time.Minute), store.AttemptBounced, false)
	add("example.com", t0.Add(4*time.Minute), store.AttemptDeferred, false)
	add("other.net", t0.Add(5*time.Minute), store.AttemptSent, false)
	got, err := s.ProviderCounts(c, "example.com", t0.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	want := store.ProviderCounts{Provider: "example.com", Sent: 1, Deferred: 1, Bounced: 2, KnownUnknown: 1}
	if got != want {
		t.Fatalf("counts = %+v, want %+v", got, want)
	}
	if none, err := s.ProviderCounts(c, "nobody.org", t0); err != nil || none.Attempts() != 0 {
		t.Fatalf("unknown provider: %+v, %v", none, err)
	}
	list, err := s.ListProviderCounts(c, t0)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].Provider != "example.com" || list[0].Attempts() != 5 || list[1].Provider != "other.net" {
		t.Fatalf("list = %+v", list)
	}
	if n, err := s.PruneProviderAttempts(c, t0.Add(2*time.Minute)); err != nil || n != 2 {
		t.Fatalf("prune: %d, %v", n, err)
	}
	if got, _ := s.ProviderCounts(c, "example.com", t0); got.Attempts() != 3 {
		t.Fatalf("after prune: %+v", got)
	}
	for _, bad := range []store.ProviderAttempt{
		{Result: store.AttemptSent},
		{Provider: "x.com", Result: "lost"},
		{Provider: "x.com", Result: store.AttemptSent, KnownUnknown: true},
	} {
		if err := s.RecordProviderAttempt(c, bad); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("record %+v: %v, want ErrInvalid", bad, err)
		}
	}
}

func testProviderStates(t *testing.T, open opener) {
	s := open(t)
	c := ctx(t)
	if _, err := s.ProviderByName(c, "example.com"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("no row: %v, want ErrNotFound", err)
	}
	t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	p := store.Provider{Name: "example.com", State: store.ProviderSuspect, Since: t0, Until: t0.Add(24 * time.Hour),
		Reason: "4 of 6", ChangedBy: "detector"}
	if err := s.SetProvider(c, p); err != nil {
		t.Fatal(err)
	}
	got, err := s.ProviderByName(c, "example.com")
	if err != nil {
		t.Fatal(err)
	}
	if got != p {
		t.Fatalf("got %+v, want %+v", got, p)
	}
	p.State, p.Until, p.ChangedBy, p.CountFrom = store.ProviderHealthy, time.Time{}, "operator", t0.Add(time.Hour)
	if err := s.SetProvider(c, p); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.ProviderByName(c, "example.com"); got != p {
		t.Fatalf("after update %+v, want %+v", got, p)
	}
	if err := s.SetProvider(c, store.Provider{Name: "b.org", State: store.ProviderConfirmed, Since: t0}); err != nil {
		t.Fatal(err)
	}
	list, err := s.ListProviders(c)
	if err != nil || len(list) != 2 || list[0].Name != "b.org" {
		t.Fatalf("list: %+v, %v", list, err)
	}
	for _, bad := range []store.Provider{{State: store.ProviderHealthy}, {Name: "x", State: "down"}} {
		if err := s.SetProvider(c, bad); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("set %+v: %v, want ErrInvalid", bad, err)
		}
	}
}

func testAcceptedRecipients(t *testing.T, open opener) {
	s := open(t)
	c := ctx(t)
	t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	if ok, err := s.AcceptedBefore(c, "k1", t0); err != nil || ok {
		t.Fatalf("never accepted: %v, %v", ok, err)
	}
	if err := s.RecordAccepted(c, "k1", t0); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordAccepted(c, "k1", t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if ok, _ := s.AcceptedBefore(c, "k1", t0.Add(-time.Second)); ok {
		t.Fatal("accepted before the first acceptance")
	}
	if ok, _ := s.AcceptedBefore(c, "k1", t0); !ok {
		t.Fatal("not accepted at the first acceptance")
	}
	if ok, _ := s.AcceptedBefore(c, "k2", t0.Add(time.Hour)); ok {
		t.Fatal("another key accepted")
	}
	// A batch: all or none.
	batch := []store.ProviderAttempt{{Provider: "p.com", Time: t0, Result: store.AttemptSent}, {Provider: "p.com", Time: t0, Result: store.AttemptDeferred}}
	if err := s.RecordProviderBatch(c, batch, []store.Accepted{{Key: "k3", At: t0}, {Key: ""}}); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("batch with an empty key: %v, want ErrInvalid", err)
	}
	if got, _ := s.ProviderCounts(c, "p.com", t0); got.Attempts() != 0 {
		t.Fatalf("refused batch stored %+v", got)
	}
	if err := s.RecordProviderBatch(c, batch, []store.Accepted{{Key: "k3", At: t0}}); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.ProviderCounts(c, "p.com", t0); got.Sent != 1 || got.Deferred != 1 {
		t.Fatalf("batch counts %+v", got)
	}
	if ok, _ := s.AcceptedBefore(c, "k3", t0); !ok {
		t.Fatal("batch acceptance not stored")
	}
	if err := s.RecordAccepted(c, "", t0); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("empty key: %v, want ErrInvalid", err)
	}
}

func testQuarantine(t *testing.T, open opener) {
	s := open(t)
	c := ctx(t)
	t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	q := store.Quarantine{Provider: "example.com", Rcpt: "a@example.com", UserID: 3, QueueID: "q1", Code: "5.1.1",
		Text: "550 5.1.1 unknown", Reason: "provider suspect", CreatedAt: t0}
	if err := s.AddQuarantine(c, &q); err != nil {
		t.Fatal(err)
	}
	if err := s.AddQuarantine(c, &store.Quarantine{Provider: "example.com", Rcpt: "a@example.com"}); !errors.Is(err, store.ErrExists) {
		t.Fatalf("second open entry: %v, want ErrExists", err)
	}
	q2 := store.Quarantine{Provider: "other.net", Rcpt: "b@other.net", CreatedAt: t0.Add(time.Minute)}
	if err := s.AddQuarantine(c, &q2); err != nil {
		t.Fatal(err)
	}
	got, err := s.OpenQuarantine(c, "a@example.com")
	if err != nil || got != q {
		t.Fatalf("open = %+v, %v; want %+v", got, err, q)
	}
	if l, err := s.ListQuarantine(c, "example.com", true); err != nil || len(l) != 1 || l[0].ID != q.ID {
		t.Fatalf("list example.com: %+v, %v", l, err)
	}
	if err := s.ResolveQuarantine(c, q.ID, "delivered", t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.ResolveQuarantine(c, q.ID, "delivered", t0.Add(time.Hour)); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("resolve twice: %v, want ErrNotFound", err)
	}
	if _, err := s.OpenQuarantine(c, "a@example.com"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("after resolve: %v, want ErrNotFound", err)
	}
	all, err := s.ListQuarantine(c, "", false)
	if err != nil || len(all) != 2 || all[1].Resolution != "delivered" || !all[1].ResolvedAt.Equal(t0.Add(time.Hour)) {
		t.Fatalf("history: %+v, %v", all, err)
	}
	if open, _ := s.ListQuarantine(c, "", true); len(open) != 1 {
		t.Fatalf("open entries: %+v", open)
	}
	// A resolved recipient may be quarantined again.
	if err := s.AddQuarantine(c, &store.Quarantine{Provider: "example.com", Rcpt: "a@example.com"}); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []store.Quarantine{{Rcpt: "x@y"}, {Provider: "y"}, {Provider: "y", Rcpt: "x@y", ResolvedAt: t0}} {
		if err := s.AddQuarantine(c, &bad); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("add %+v: %v, want ErrInvalid", bad, err)
		}
	}
	if err := s.ResolveQuarantine(c, q2.ID, "", t0); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("empty resolution: %v, want ErrInvalid", err)
	}
}
