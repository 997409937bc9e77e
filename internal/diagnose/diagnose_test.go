package diagnose

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cabalmail/cabalmail/internal/monitor"
	"github.com/cabalmail/cabalmail/internal/store"
	"github.com/cabalmail/cabalmail/internal/store/sqlite"
)

var now = time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)

func openStore(t *testing.T) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "cabalmail.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

func addEvent(t *testing.T, st store.Store, e store.Event) {
	t.Helper()
	if e.Time.IsZero() {
		e.Time = now.Add(-5 * time.Minute)
	}
	if err := st.AddEvent(context.Background(), &e); err != nil {
		t.Fatal(err)
	}
}

func bounce(rcpt, dsn, detail string) store.Event {
	return store.Event{Tier: "smtp-out", QueueID: "q", Rcpt: rcpt, DSN: dsn, Status: "Bounced", Detail: detail}
}

// 42 of 47 outbound bounces go to gmail.com: that provider is refusing us.
func TestBouncesOneProviderDominates(t *testing.T) {
	st := openStore(t)
	for i := range 42 {
		addEvent(t, st, bounce(fmt.Sprintf("u%d@gmail.com", i), "5.7.26", "550 5.7.26 unauthenticated mail is prohibited"))
	}
	for i, d := range []string{"example.net", "example.org", "example.net", "mail.example.com", "example.org"} {
		addEvent(t, st, bounce(fmt.Sprintf("v%d@%s", i, d), "5.1.1", "550 5.1.1 no such user"))
	}
	// Not bounces, and a bounce outside the window: none of them count.
	addEvent(t, st, store.Event{Tier: "smtp-out", Rcpt: "a@gmail.com", DSN: "2.0.0", Status: "Sent"})
	addEvent(t, st, store.Event{Tier: "smtp-out", Rcpt: "a@gmail.com", DSN: "4.7.1", Status: "Deferred"})
	addEvent(t, st, store.Event{Time: now.Add(-2 * time.Hour), Tier: "smtp-out", Rcpt: "old@gmail.com", DSN: "5.7.26", Status: "Bounced"})

	r, err := Bounces(context.Background(), st, Options{Since: now.Add(-30 * time.Minute), Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if r.Total != 47 {
		t.Errorf("total %d, want 47", r.Total)
	}
	if len(r.Tiers) != 1 || r.Tiers[0] != (Count{"smtp-out", 47}) {
		t.Errorf("tiers %v", r.Tiers)
	}
	if len(r.Codes) != 2 || r.Codes[0].DSN != "5.7.26" || r.Codes[0].Count != 42 ||
		r.Codes[0].Text != "550 5.7.26 unauthenticated mail is prohibited" || r.Codes[1].DSN != "5.1.1" || r.Codes[1].Count != 5 {
		t.Errorf("codes %+v", r.Codes)
	}
	want := []Count{{"gmail.com", 42}, {"example.net", 2}, {"example.org", 2}, {"mail.example.com", 1}}
	if fmt.Sprint(r.Domains) != fmt.Sprint(want) {
		t.Errorf("domains %v, want %v", r.Domains, want)
	}
	const verdict = "one provider dominates: gmail.com 42 of 47 → that provider is refusing us"
	if r.Verdict != verdict {
		t.Errorf("verdict %q", r.Verdict)
	}
	var buf bytes.Buffer
	if err := r.WriteText(&buf); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"Bounces (dsn 5.x.x) since 2026-11-22T07:30:00Z: 47", "Verdict: " + verdict, "5.7.26", "gmail.com"} {
		if !strings.Contains(buf.String(), s) {
			t.Errorf("text lacks %q:\n%s", s, buf.String())
		}
	}
}

// Bounces spread over 12 providers point at us.
func TestBouncesSpreadAcrossProviders(t *testing.T) {
	st := openStore(t)
	for i := range 24 {
		addEvent(t, st, bounce(fmt.Sprintf("u%d@provider%d.example", i, i%12), "5.7.1", "550 5.7.1 DKIM signature did not verify"))
	}
	r, err := Bounces(context.Background(), st, Options{Since: now.Add(-30 * time.Minute), Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if r.Total != 24 || r.Verdict != "spread across 12 providers → our reputation or signing" {
		t.Errorf("total %d, verdict %q", r.Total, r.Verdict)
	}
	if len(r.Domains) != topDomains {
		t.Errorf("listed %d domains, want the top %d", len(r.Domains), topDomains)
	}
}

// On smtp-in, refused addresses are listed with whether they exist.
func TestBouncesSMTPInRefused(t *testing.T) {
	st := openStore(t)
	ctx := context.Background()
	u := &store.User{Name: "alice", Status: store.UserActive}
	if err := st.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateDomain(ctx, &store.Domain{Apex: "example.test", DKIMSelector: "cabal"}); err != nil {
		t.Fatal(err)
	}
	a := &store.Address{Address: "shop@x1.example.test", Local: "shop", Subdomain: "x1", Apex: "example.test",
		State: store.AddressSuspended, Holders: []store.Holding{{UserID: u.ID}}}
	if err := st.CreateAddress(ctx, a); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		addEvent(t, st, store.Event{Tier: "smtp-in", Rcpt: "ghost@x9.example.test", DSN: "5.1.1", Status: "User unknown", Detail: "550 5.1.1 no such user here"})
	}
	addEvent(t, st, store.Event{Tier: "smtp-in", Rcpt: "Shop@x1.example.test", DSN: "5.2.1", Status: "Mailbox disabled"})
	addEvent(t, st, bounce("bob@example.net", "5.1.1", "550 no"))

	r, err := Bounces(ctx, st, Options{Tier: "smtp-in", Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if r.Total != 4 || len(r.Domains) != 0 || r.Verdict != "" {
		t.Errorf("total %d, domains %v, verdict %q", r.Total, r.Domains, r.Verdict)
	}
	want := []Refused{{"ghost@x9.example.test", 3, false, ""}, {"shop@x1.example.test", 1, true, "suspended"}}
	if fmt.Sprint(r.Refused) != fmt.Sprint(want) {
		t.Errorf("refused %+v, want %+v", r.Refused, want)
	}
	var buf bytes.Buffer
	if err := r.WriteText(&buf); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "ghost@x9.example.test") || !strings.Contains(buf.String(), "does not exist") ||
		!strings.Contains(buf.String(), "exists, suspended") {
		t.Errorf("text:\n%s", buf.String())
	}
}

func TestDeferrals(t *testing.T) {
	st := openStore(t)
	ctx := context.Background()
	defer4 := func(tier, rcpt, dsn, detail string) {
		addEvent(t, st, store.Event{Tier: tier, Rcpt: rcpt, DSN: dsn, Status: "Deferred", Detail: detail})
	}
	for range 5 {
		defer4("smtp-out", "a@gmail.com", "4.7.1", "451 4.7.1 greylisted")
	}
	defer4("smtp-out", "b@yahoo.com", "4.7.0", "421 4.7.0 try later")
	for range 3 {
		defer4("smtp-out", "c@example.net", "4.4.1", "connection refused")
	}
	defer4("smtp-out", "d@example.org", "4.5.0", "452 4.5.0 congestion")
	defer4("smtp-in", "shop@x1.example.test", "4.3.0", "451 4.3.0 local error, try again later")
	addEvent(t, st, bounce("e@example.net", "5.1.1", "no"))

	old := &store.QueueItem{ID: "oldest1", BlobKey: "k1", CreatedAt: now.Add(-3*time.Hour - 5*time.Minute), Attempts: 7,
		Recipients: []store.QueueRecipient{{Rcpt: "a@gmail.com"}}}
	newer := &store.QueueItem{ID: "newer2", BlobKey: "k2", CreatedAt: now.Add(-time.Minute),
		Recipients: []store.QueueRecipient{{Rcpt: "c@example.net"}}}
	if err := st.EnqueueItems(ctx, []*store.QueueItem{old, newer}); err != nil {
		t.Fatal(err)
	}

	r, err := Deferrals(ctx, st, Options{Since: now.Add(-30 * time.Minute), Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if r.Total != 11 || fmt.Sprint(r.Tiers) != "[{smtp-out 10} {smtp-in 1}]" {
		t.Errorf("total %d, tiers %v", r.Total, r.Tiers)
	}
	var subjects []string
	for _, g := range r.Groups {
		subjects = append(subjects, fmt.Sprintf("%s=%d", g.Subject, g.Count))
	}
	if got := strings.Join(subjects, " "); got != "4.7.x=6 4.4.x=3 4.3.x=1 4.5.x=1" {
		t.Errorf("groups %s", got)
	}
	if g := r.Groups[0]; len(g.Codes) != 2 || g.Codes[0].DSN != "4.7.1" || g.Codes[0].Count != 5 || g.Codes[0].Text != "451 4.7.1 greylisted" ||
		!strings.Contains(g.Meaning, "greylisting") {
		t.Errorf("4.7.x group %+v", g)
	}
	if r.Destinations[0] != (Count{"gmail.com", 5}) || r.Destinations[1] != (Count{"example.net", 3}) {
		t.Errorf("destinations %v", r.Destinations)
	}
	if r.Queue == nil || *r.Queue != (QueueSize{Messages: 2, Pending: 2}) {
		t.Errorf("queue %+v", r.Queue)
	}
	if o := r.Oldest; o == nil || o.ID != "oldest1" || o.Age != 3*time.Hour+5*time.Minute ||
		fmt.Sprint(o.Recipients) != "[a@gmail.com]" {
		t.Errorf("oldest %+v", r.Oldest)
	}
	var buf bytes.Buffer
	if err := r.WriteText(&buf); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"smtp-out queue: 2 messages (2 pending, 0 held)", "4.4.x", "connectivity or MX", "Oldest message: oldest1, 3h5m old"} {
		if !strings.Contains(buf.String(), s) {
			t.Errorf("text lacks %q:\n%s", s, buf.String())
		}
	}
	// Another tier: no queue in the report.
	r, err = Deferrals(ctx, st, Options{Tier: "smtp-in", Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if r.Total != 1 || r.Queue != nil || r.Oldest != nil {
		t.Errorf("smtp-in only: %+v", r)
	}
	if _, err := json.Marshal(r); err != nil {
		t.Fatal(err)
	}
}

func TestProbes(t *testing.T) {
	st := openStore(t)
	ctx := context.Background()
	r, err := Probes(ctx, st, Options{Now: now})
	if err != nil || len(r.Probes) != 0 || r.Stale {
		t.Fatalf("no monitor yet: %+v, %v", r, err)
	}
	states := []monitor.ProbeState{
		{Name: "smtp-in tcp 127.0.0.1:2525", Tier: "smtp-in", Target: "127.0.0.1:2525", OK: false, LastCheck: now.Add(-10 * time.Second),
			LastFailure: now.Add(-10 * time.Second), LastError: "dial tcp 127.0.0.1:2525: connection refused", LastSuccess: now.Add(-3 * time.Minute)},
		{Name: "imap tls 127.0.0.1:2993", Tier: "imap", Target: "127.0.0.1:2993", OK: true, LastCheck: now.Add(-10 * time.Second),
			CertNotAfter: now.Add(40 * 24 * time.Hour)},
	}
	if err := monitor.SaveProbeStates(ctx, st, states); err != nil {
		t.Fatal(err)
	}
	r, err = Probes(ctx, st, Options{Now: now})
	if err != nil || len(r.Probes) != 2 || r.Stale {
		t.Fatalf("%+v, %v", r, err)
	}
	var buf bytes.Buffer
	if err := r.WriteText(&buf, now); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"FAILING  smtp-in tcp 127.0.0.1:2525", "last failure 10s ago: dial tcp 127.0.0.1:2525: connection refused", "ok       imap tls", "in 40d0h"} {
		if !strings.Contains(buf.String(), s) {
			t.Errorf("text lacks %q:\n%s", s, buf.String())
		}
	}
	r, _ = Probes(ctx, st, Options{Tier: "imap", Now: now.Add(time.Hour)})
	if len(r.Probes) != 1 || !r.Stale {
		t.Errorf("imap only, an hour later: %+v", r)
	}
}

func TestProbesHeartbeats(t *testing.T) {
	st := openStore(t)
	ctx := context.Background()
	hbs := []monitor.Heartbeat{
		{Job: "queue-runner", Period: time.Minute, Grace: 2 * time.Minute},
		{Job: "dns-serial", Period: time.Hour, Grace: 15 * time.Minute},
		{Job: "cert-renewal", Period: 24 * time.Hour, Grace: 6 * time.Hour},
	}
	if err := monitor.RecordHeartbeat(ctx, st, "queue-runner", now.Add(-30*time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := monitor.RecordHeartbeat(ctx, st, "dns-serial", now.Add(-2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	r, err := Probes(ctx, st, Options{Now: now, Heartbeats: hbs})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Heartbeats) != 3 || r.Heartbeats[0].Late || !r.Heartbeats[1].Late || !r.Heartbeats[2].LastSuccess.IsZero() || r.Heartbeats[2].Late {
		t.Fatalf("heartbeats %+v", r.Heartbeats)
	}
	var buf bytes.Buffer
	if err := r.WriteText(&buf, now); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"No probe results", "Heartbeats:\n", "  queue-runner   last success 30s ago (every 1m0s, grace 2m0s)",
		"  dns-serial     LATE: last success 2h0m ago (every 1h0m0s, grace 15m0s)", "  cert-renewal   never reported"} {
		if !strings.Contains(buf.String(), s) {
			t.Errorf("text lacks %q:\n%s", s, buf.String())
		}
	}
}
