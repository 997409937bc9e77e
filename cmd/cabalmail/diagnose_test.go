package main

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cabalmail/cabalmail/internal/config"
	"github.com/cabalmail/cabalmail/internal/monitor"
	"github.com/cabalmail/cabalmail/internal/store"
	"github.com/cabalmail/cabalmail/internal/store/sqlite"
)

// seedDiagnose writes delivery events and a monitor round into the
// configuration's store, as the tiers and the monitor role do.
func seedDiagnose(t *testing.T, cfgPath string) {
	t.Helper()
	ctx := context.Background()
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(ctx, cfg.Store.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Now()
	add := func(ago time.Duration, e store.Event) {
		t.Helper()
		e.Time = now.Add(-ago)
		if err := st.AddEvent(ctx, &e); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 8 {
		add(5*time.Minute, store.Event{Tier: "smtp-out", QueueID: "q1", Rcpt: fmt.Sprintf("u%d@gmail.com", i), DSN: "5.7.26", Status: "Bounced",
			Detail: "550 5.7.26 unauthenticated mail is prohibited"})
	}
	add(6*time.Minute, store.Event{Tier: "smtp-out", QueueID: "q2", Rcpt: "v@example.net", DSN: "5.1.1", Status: "User unknown", Detail: "550 5.1.1 no such user"})
	add(7*time.Minute, store.Event{Tier: "smtp-in", QueueID: "i1", Rcpt: "ghost@sub.example.com", DSN: "5.1.1", Status: "User unknown", Detail: "550 5.1.1 no such user here"})
	for range 3 {
		add(8*time.Minute, store.Event{Tier: "smtp-out", QueueID: "q3", Rcpt: "w@yahoo.example", DSN: "4.7.1", Status: "Deferred", Detail: "451 4.7.1 greylisted"})
	}
	add(9*time.Minute, store.Event{Tier: "smtp-out", QueueID: "q4", Rcpt: "ok@example.org", DSN: "2.0.0", Status: "Sent"})
	// Outside a 30-minute window.
	add(2*time.Hour, store.Event{Tier: "smtp-out", QueueID: "q5", Rcpt: "old@gmail.com", DSN: "5.7.26", Status: "Bounced"})

	err = monitor.SaveProbeStates(ctx, st, []monitor.ProbeState{
		{Name: "smtp-in smtp 127.0.0.1:25", Tier: "smtp-in", Target: "127.0.0.1:25", OK: true, LastCheck: now.Add(-10 * time.Second),
			Duration: 3 * time.Millisecond, LastSuccess: now.Add(-10 * time.Second)},
		{Name: "imap tls 127.0.0.1:993", Tier: "imap", Target: "127.0.0.1:993", OK: false, LastCheck: now.Add(-10 * time.Second),
			Duration: time.Millisecond, LastFailure: now.Add(-10 * time.Second), LastError: "dial tcp 127.0.0.1:993: connect: connection refused"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := monitor.RecordHeartbeat(ctx, st, "queue-runner", now.Add(-20*time.Second)); err != nil {
		t.Fatal(err)
	}
}

func TestDiagnoseCommands(t *testing.T) {
	cfg := initData(t)
	if out := mustCLI(t, cfg, "", "diagnose", "bounces"); !strings.HasPrefix(out, "Bounces (dsn 5.x.x) since ") || !strings.Contains(out, ": 0\n") {
		t.Errorf("bounces on an empty store:\n%s", out)
	}
	if out := mustCLI(t, cfg, "", "diagnose", "probes"); !strings.Contains(out, "No probe results in the store") {
		t.Errorf("probes without a monitor:\n%s", out)
	}
	seedDiagnose(t, cfg)

	out := mustCLI(t, cfg, "", "diagnose", "bounces")
	for _, want := range []string{
		": 10\n",
		"  smtp-out   9\n", "  smtp-in    1\n",
		"  smtp-out   5.7.26     8  550 5.7.26 unauthenticated mail is prohibited",
		"  gmail.com                      8\n",
		"Verdict: one provider dominates: gmail.com 8 of 9",
		"  ghost@sub.example.com                       1  does not exist",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("diagnose bounces lacks %q:\n%s", want, out)
		}
	}
	var bounces struct {
		Total   int `json:"total"`
		Domains []struct {
			Name  string `json:"name"`
			Count int    `json:"count"`
		} `json:"smtp_out_domains"`
		Refused []struct {
			Address string `json:"address"`
			Exists  bool   `json:"exists"`
		} `json:"smtp_in_refused"`
	}
	if err := json.Unmarshal([]byte(mustCLI(t, cfg, "", "diagnose", "bounces", "--json")), &bounces); err != nil {
		t.Fatal(err)
	}
	if bounces.Total != 10 || len(bounces.Domains) != 2 || bounces.Domains[0].Name != "gmail.com" || bounces.Domains[0].Count != 8 ||
		len(bounces.Refused) != 1 || bounces.Refused[0].Exists {
		t.Errorf("bounces --json: %+v", bounces)
	}
	// The window and the tier select events.
	if err := json.Unmarshal([]byte(mustCLI(t, cfg, "", "diagnose", "bounces", "--json", "--since", "3h")), &bounces); err != nil || bounces.Total != 11 {
		t.Errorf("bounces --since 3h: total %d, %v", bounces.Total, err)
	}
	if err := json.Unmarshal([]byte(mustCLI(t, cfg, "", "diagnose", "bounces", "--json", "--tier", "smtp-in")), &bounces); err != nil || bounces.Total != 1 {
		t.Errorf("bounces --tier smtp-in: total %d, %v", bounces.Total, err)
	}

	out = mustCLI(t, cfg, "", "diagnose", "deferrals")
	if !strings.Contains(out, "Deferrals (dsn 4.x.y) since ") || !strings.Contains(out, ": 3\n") || !strings.Contains(out, "4.7.1") || !strings.Contains(out, "yahoo.example") {
		t.Errorf("diagnose deferrals:\n%s", out)
	}
	var deferrals struct {
		Total int `json:"total"`
	}
	if err := json.Unmarshal([]byte(mustCLI(t, cfg, "", "diagnose", "deferrals", "--json")), &deferrals); err != nil || deferrals.Total != 3 {
		t.Errorf("deferrals --json: %+v, %v", deferrals, err)
	}

	out = mustCLI(t, cfg, "", "diagnose", "probes")
	if !regexp.MustCompile(`\nHeartbeats:\n  queue-runner   last success [23]\ds ago \(every 1m0s, grace 2m0s\)\n`).MatchString(out) {
		t.Errorf("diagnose probes lacks the queue-runner heartbeat:\n%s", out)
	}
	for _, want := range []string{"ok       smtp-in smtp 127.0.0.1:25 (checked ", "FAILING  imap tls 127.0.0.1:993", "connection refused",
		"  dns-serial     never reported"} {
		if !strings.Contains(out, want) {
			t.Errorf("diagnose probes lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "seems to be down") {
		t.Errorf("fresh probe results reported stale:\n%s", out)
	}
	var probes struct {
		Probes []monitor.ProbeState `json:"probes"`
		Stale  bool                 `json:"stale"`
	}
	if err := json.Unmarshal([]byte(mustCLI(t, cfg, "", "diagnose", "probes", "--json", "--tier", "imap")), &probes); err != nil {
		t.Fatal(err)
	}
	if len(probes.Probes) != 1 || probes.Probes[0].OK || probes.Probes[0].Tier != "imap" || probes.Stale {
		t.Errorf("probes --json --tier imap: %+v", probes)
	}
}

func TestDiagnoseUsageErrors(t *testing.T) {
	cfg := initData(t)
	for _, args := range [][]string{
		{"diagnose"},
		{"diagnose", "everything"},
		{"diagnose", "bounces", "deferrals"},
		{"diagnose", "bounces", "--since", "soon"},
		{"diagnose", "bounces", "--since", "-5m"},
		{"diagnose", "bounces", "--since", "0s"},
		{"diagnose", "deferrals", "--tier", "smtp"},
		{"diagnose", "probes", "--frobnicate"},
		{"diagnose", "probes", "--json=maybe"},
	} {
		r := cli(t, cfg, "", args...)
		if r.code != 2 || r.stdout != "" || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 || r.stderr == "" {
			t.Errorf("%v: want exit 2 and one line on stderr, got %d %q %q", args, r.code, r.stdout, r.stderr)
		}
	}
}
