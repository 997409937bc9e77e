package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/cabalmail/cabalmail/internal/config"
	"github.com/cabalmail/cabalmail/internal/providers"
	"github.com/cabalmail/cabalmail/internal/queue"
	"github.com/cabalmail/cabalmail/internal/store"
	"github.com/cabalmail/cabalmail/internal/store/sqlite"
)

func openTestStore(t *testing.T, cfgPath string) *sqlite.Store {
	t.Helper()
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(context.Background(), cfg.Store.Path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func TestSuppressionCommands(t *testing.T) {
	cfg := initData(t)
	mustCLI(t, cfg, "password-alice\n", "user", "add", "alice", "--password-stdin")
	st := openTestStore(t, cfg)
	ctx := context.Background()
	alice, err := st.UserByName(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if out := mustCLI(t, cfg, "", "suppression", "list"); out != "no suppressed recipients\n" {
		t.Fatalf("empty list: %q", out)
	}
	since := time.Date(2026, 2, 3, 4, 5, 6, 0, time.UTC)
	e := store.Suppression{UserID: alice.ID, Address: "gone@remote.example", Reason: "recipient-unknown", Code: "5.1.1",
		Text: "550 5.1.1 no such user", Provider: "remote.example", QueueID: "0011223344556677", CreatedAt: since}
	if err := st.AddSuppression(ctx, &e); err != nil {
		t.Fatal(err)
	}
	out := mustCLI(t, cfg, "", "suppression", "list")
	for _, want := range []string{"alice", "gone@remote.example", "2026-02-03T04:05:06Z", "5.1.1", "recipient-unknown", "suppressed", "550 5.1.1 no such user"} {
		if !strings.Contains(out, want) {
			t.Errorf("list lacks %q:\n%s", want, out)
		}
	}
	for _, args := range [][]string{
		{"suppression"},
		{"suppression", "drop", "x@y"},
		{"suppression", "release"},
		{"suppression", "list", "extra"},
		{"suppression", "release", "a@b", "c@d"},
		{"suppression", "release", "a@b", "--all"},
	} {
		if r := cli(t, cfg, "", args...); r.code != 2 || r.stderr == "" {
			t.Errorf("%v: want a usage error, got %d %q", args, r.code, r.stderr)
		}
	}
	if r := cli(t, cfg, "", "suppression", "release", "other@remote.example"); r.code != 1 || !strings.Contains(r.stderr, "not suppressed") {
		t.Errorf("release of an unknown entry: %d %q", r.code, r.stderr)
	}
	if r := cli(t, cfg, "", "suppression", "list", "--user", "nobody"); r.code != 1 || !strings.Contains(r.stderr, "no user") {
		t.Errorf("unknown user: %d %q", r.code, r.stderr)
	}
	if out := mustCLI(t, cfg, "", "suppression", "release", "Gone@Remote.Example"); !strings.HasPrefix(out, "released Gone@Remote.Example (1 entry)") {
		t.Fatalf("release: %q", out)
	}
	if out := mustCLI(t, cfg, "", "suppression", "list"); out != "no suppressed recipients\n" {
		t.Fatalf("after release: %q", out)
	}
	// Nothing is deleted: the history says who released it.
	var hist []suppressionEntry
	if err := json.Unmarshal([]byte(mustCLI(t, cfg, "", "suppression", "list", "--all", "--json", "--user", "alice")), &hist); err != nil {
		t.Fatal(err)
	}
	if len(hist) != 1 || hist[0].ReleasedBy != "operator" || hist[0].ReleasedAt == nil || hist[0].Address != "gone@remote.example" || !hist[0].Since.Equal(since) {
		t.Fatalf("history %+v", hist)
	}
}

func TestProvidersCommands(t *testing.T) {
	cfg := initData(t)
	st := openTestStore(t, cfg)
	ctx := context.Background()
	if out := mustCLI(t, cfg, "", "providers"); !strings.HasPrefix(out, "no delivery attempts") {
		t.Fatalf("empty: %q", out)
	}
	// A provider that took mail from 5 recipients and then says none of
	// them exists.
	now := time.Now()
	tr, err := providers.New(providers.Options{Store: st, Now: func() time.Time { return now }, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	var items []*store.QueueItem
	for i := range 5 {
		rcpt := fmt.Sprintf("u%d@customer.example", i)
		tr.Judge(ctx, queue.Work{ID: "a", UserID: 0}, queue.Outcome{Rcpt: rcpt, Kind: queue.Delivered, Remote: true, Relay: "mx1.bigmail.example"})
		items = append(items, &store.QueueItem{ID: fmt.Sprintf("%016x", i), BlobKey: "k", Sender: "s@x.example.com",
			NextAttempt: now.Add(time.Hour), Recipients: []store.QueueRecipient{{Rcpt: rcpt}}})
	}
	if err := st.EnqueueItems(ctx, items); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		tr.Judge(ctx, queue.Work{ID: fmt.Sprintf("%016x", i), UserID: 0}, queue.Outcome{Rcpt: fmt.Sprintf("u%d@customer.example", i),
			Kind: queue.Failed, DSN: "5.1.1", Reply: "550 5.1.1 user unknown", Remote: true, Relay: "mx2.bigmail.example"})
	}
	tr.Judge(ctx, queue.Work{ID: "b"}, queue.Outcome{Rcpt: "x@small.example", Kind: queue.Deferred, DSN: "4.7.1", Reply: "451 4.7.1 greylisted", Remote: true, Relay: "mx.small.example"})
	out := mustCLI(t, cfg, "", "providers")
	lines := strings.Split(out, "\n")
	if len(lines) < 4 || !strings.HasPrefix(lines[1], "bigmail.example") || !strings.Contains(lines[1], "suspect until") ||
		!strings.Contains(lines[3], "small.example") {
		t.Fatalf("providers:\n%s", out)
	}
	if f := strings.Fields(lines[1]); f[1] != "5" || f[2] != "0" || f[3] != "5" || f[4] != "5" {
		t.Fatalf("bigmail counts (sent deferred bounced quarantined): %v", f[1:5])
	}
	var js []providerEntry
	if err := json.Unmarshal([]byte(mustCLI(t, cfg, "", "providers", "--json")), &js); err != nil {
		t.Fatal(err)
	}
	if len(js) != 2 || js[0].State != "suspect" || js[0].KnownUnknown != 5 || js[1].Deferred != 1 {
		t.Fatalf("json %+v", js)
	}
	for _, args := range [][]string{{"providers", "confirm"}, {"providers", "clear", "a", "b"}, {"providers", "extra"}, {"providers", "--since", "-1h"}} {
		if r := cli(t, cfg, "", args...); r.code != 2 {
			t.Errorf("%v: want a usage error, got %d %q", args, r.code, r.stderr)
		}
	}
	// diagnose bounces names the suspect provider and the affected recipients.
	diag := mustCLI(t, cfg, "", "diagnose", "bounces")
	for _, want := range []string{"Suspect provider: bigmail.example", "quarantined (5): ", "u0@customer.example", "u4@customer.example"} {
		if !strings.Contains(diag, want) {
			t.Errorf("diagnose bounces lacks %q:\n%s", want, diag)
		}
	}
	if r := cli(t, cfg, "", "providers", "clear", "nobody.example"); r.code != 1 || !strings.Contains(r.stderr, "no state") {
		t.Errorf("clear of an unknown provider: %d %q", r.code, r.stderr)
	}
	if out := mustCLI(t, cfg, "", "providers", "clear", "bigmail.example"); !strings.Contains(out, "5 quarantined recipients released and retried now") {
		t.Fatalf("clear: %q", out)
	}
	it, err := st.QueueItem(ctx, fmt.Sprintf("%016x", 0))
	if err != nil || it.NextAttempt.After(time.Now()) {
		t.Fatalf("queued message not made due: %+v %v", it.NextAttempt, err)
	}
	js = nil
	if err := json.Unmarshal([]byte(mustCLI(t, cfg, "", "providers", "--json")), &js); err != nil {
		t.Fatal(err)
	}
	if js[0].Provider != "bigmail.example" || js[0].State != "healthy" || js[0].Quarantined != 0 {
		t.Fatalf("after clear %+v", js)
	}
	if out := mustCLI(t, cfg, "", "providers", "confirm", "bigmail.example"); !strings.Contains(out, "bounces confirmed") {
		t.Fatalf("confirm: %q", out)
	}
	audit, _ := st.ListAudit(ctx, 2)
	if len(audit) != 2 || audit[0].Action != "provider.confirm" || audit[1].Action != "provider.clear" {
		t.Fatalf("audit %+v", audit)
	}
}
