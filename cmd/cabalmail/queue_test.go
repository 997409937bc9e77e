package main

import (
	"context"
	"encoding/json"
	"io/fs"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/cabalmail/cabalmail/internal/blob"
	"github.com/cabalmail/cabalmail/internal/config"
	"github.com/cabalmail/cabalmail/internal/queue"
	"github.com/cabalmail/cabalmail/internal/store/sqlite"
)

// enqueueFor puts messages in the outbound queue of the configuration's
// store, as the submission server does, and returns their IDs.
func enqueueFor(t *testing.T, cfgPath string, msgs ...queue.Message) []string {
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
	blobs, err := blob.OpenDir(cfg.Store.QueueDir)
	if err != nil {
		t.Fatal(err)
	}
	q, err := queue.Open(ctx, queue.Options{Store: st, Blobs: blobs, Hostname: cfg.Hostname})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, m := range msgs {
		id, err := q.Enqueue(ctx, m)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return ids
}

func mailqJSONOf(t *testing.T, cfg string) []mailqItem {
	t.Helper()
	var items []mailqItem
	if err := json.Unmarshal([]byte(mustCLI(t, cfg, "", "mailq", "--json")), &items); err != nil {
		t.Fatal(err)
	}
	return items
}

func statesOf(items []mailqItem) map[string]string {
	m := map[string]string{}
	for _, it := range items {
		m[it.ID] = it.State
	}
	return m
}

func TestMailqAndQueueCommands(t *testing.T) {
	cfg := initData(t)
	if out := mustCLI(t, cfg, "", "mailq"); out != "smtp-out queue is empty\n" {
		t.Fatalf("mailq on an empty queue: %q", out)
	}
	if out := strings.TrimSpace(mustCLI(t, cfg, "", "mailq", "--json")); out != "[]" {
		t.Fatalf("mailq --json on an empty queue: %q", out)
	}

	body := func(subject string) *strings.Reader {
		return strings.NewReader("From: <alice@x1.example.com>\r\nSubject: " + subject + "\r\n\r\n" + strings.Repeat("text ", 400) + "\r\n")
	}
	ids := enqueueFor(t, cfg,
		queue.Message{From: "alice@x1.example.com", Recipients: []string{"bob@example.net", "carol@example.org"}, Body: body("one")},
		queue.Message{From: "", Recipients: []string{"alice@x1.example.com"}, Body: body("two"), IsDSN: true},
		queue.Message{From: "dave@x2.example.com", Recipients: []string{"erin@example.net"}, Body: body("three")},
	)

	if n := queueBodies(t, cfg); n != 3 {
		t.Errorf("%d message bodies in the queue directory, want 3", n)
	}
	out := mustCLI(t, cfg, "", "mailq")
	for _, want := range []string{ids[0], ids[1], ids[2], "alice@x1.example.com", "<>", "bob@example.net", "carol@example.org", "erin@example.net", "queued"} {
		if !strings.Contains(out, want) {
			t.Errorf("mailq lacks %q:\n%s", want, out)
		}
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if last := lines[len(lines)-1]; !regexp.MustCompile(`^-- \d+ Kbytes in 3 Requests\.$`).MatchString(last) {
		t.Errorf("mailq count line %q", last)
	}
	items := mailqJSONOf(t, cfg)
	if len(items) != 3 {
		t.Fatalf("mailq --json: %d items, want 3", len(items))
	}
	first := items[0]
	if first.ID != ids[0] || first.Tier != "smtp-out" || first.Sender != "alice@x1.example.com" || first.State != "queued" ||
		first.Size < 2000 || len(first.Recipients) != 2 || first.Recipients[0].Address != "bob@example.net" || first.Recipients[0].State != "pending" {
		t.Errorf("mailq --json first item: %+v", first)
	}
	if items[1].Sender != "" {
		t.Errorf("DSN sender %q, want empty", items[1].Sender)
	}

	// Bad calls: one clear line each, and nothing changes.
	before := mustCLI(t, cfg, "", "mailq", "--json")
	for _, bad := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"queue", "hold", "nothex"}, 2, `queue hold: "nothex" is not a queue ID`},
		{[]string{"queue", "delete", "../../etc/passwd"}, 2, "is not a queue ID"},
		{[]string{"queue", "hold", "0123456789abcdef"}, 1, "queue hold: no queued message 0123456789abcdef"},
		{[]string{"queue", "delete", "0123456789abcdef"}, 1, "queue delete: no queued message 0123456789abcdef"},
		{[]string{"queue", "frobnicate", ids[0]}, 2, `unknown action "frobnicate"`},
		{[]string{"queue", "hold"}, 2, "usage: cabalmail queue"},
		{[]string{"queue", "hold", "--all", ids[0]}, 2, "usage: cabalmail queue"},
		{[]string{"queue"}, 2, "usage: cabalmail queue"},
		{[]string{"mailq", "--tier", "imap"}, 2, `--tier: "imap" has no queue`},
		{[]string{"mailq", "extra"}, 2, "mailq"},
	} {
		r := cli(t, cfg, "", bad.args...)
		msg := strings.TrimSpace(r.stderr)
		if r.code != bad.code || !strings.Contains(msg, bad.want) || strings.Contains(msg, "\n") || r.stdout != "" {
			t.Errorf("%v: exit %d, stderr %q, stdout %q; want exit %d and one line with %q", bad.args, r.code, r.stderr, r.stdout, bad.code, bad.want)
		}
	}
	if after := mustCLI(t, cfg, "", "mailq", "--json"); after != before {
		t.Errorf("refused calls changed the queue:\nbefore %s\nafter  %s", before, after)
	}

	// By ID.
	if out := mustCLI(t, cfg, "", "queue", "hold", ids[0]); out != ids[0]+" held\n" {
		t.Errorf("hold: %q", out)
	}
	st := statesOf(mailqJSONOf(t, cfg))
	if st[ids[0]] != "held" || st[ids[1]] != "queued" {
		t.Errorf("after hold: %v", st)
	}
	if out := mustCLI(t, cfg, "", "mailq"); !strings.Contains(out, "held") {
		t.Errorf("mailq does not show the hold:\n%s", out)
	}
	if out := mustCLI(t, cfg, "", "queue", "retry", ids[0]); out != ids[0]+" scheduled for retry\n" {
		t.Errorf("retry: %q", out)
	}
	if st := statesOf(mailqJSONOf(t, cfg)); st[ids[0]] != "held" {
		t.Errorf("retry released a held message: %v", st)
	}
	if out := mustCLI(t, cfg, "", "queue", "release", ids[0]); out != ids[0]+" released\n" {
		t.Errorf("release: %q", out)
	}
	if st := statesOf(mailqJSONOf(t, cfg)); st[ids[0]] != "queued" {
		t.Errorf("after release: %v", st)
	}
	if out := mustCLI(t, cfg, "", "queue", "delete", ids[1]); out != ids[1]+" deleted\n" {
		t.Errorf("delete: %q", out)
	}
	if st := statesOf(mailqJSONOf(t, cfg)); len(st) != 2 || st[ids[1]] != "" {
		t.Errorf("after delete: %v", st)
	}
	if r := cli(t, cfg, "", "queue", "delete", ids[1]); r.code != 1 || !strings.Contains(r.stderr, "no queued message "+ids[1]) {
		t.Errorf("second delete: exit %d %q", r.code, r.stderr)
	}

	// --all.
	if out := mustCLI(t, cfg, "", "queue", "hold", "--all"); out != "2 messages held\n" {
		t.Errorf("hold --all: %q", out)
	}
	for id, s := range statesOf(mailqJSONOf(t, cfg)) {
		if s != "held" {
			t.Errorf("%s is %s after hold --all", id, s)
		}
	}
	if out := mustCLI(t, cfg, "", "queue", "retry", "--all"); out != "2 messages scheduled for retry\n" {
		t.Errorf("retry --all: %q", out)
	}
	if out := mustCLI(t, cfg, "", "queue", "release", "--all"); out != "2 messages released\n" {
		t.Errorf("release --all: %q", out)
	}
	for id, s := range statesOf(mailqJSONOf(t, cfg)) {
		if s != "queued" {
			t.Errorf("%s is %s after release --all", id, s)
		}
	}
	out = mustCLI(t, cfg, "", "mailq")
	if lines := strings.Split(strings.TrimSpace(out), "\n"); !regexp.MustCompile(`^-- \d+ Kbytes in 2 Requests\.$`).MatchString(lines[len(lines)-1]) {
		t.Errorf("mailq count line after delete: %q", lines[len(lines)-1])
	}
	if out := mustCLI(t, cfg, "", "queue", "delete", "--all"); out != "2 messages deleted\n" {
		t.Errorf("delete --all: %q", out)
	}
	if out := mustCLI(t, cfg, "", "mailq"); out != "smtp-out queue is empty\n" {
		t.Errorf("mailq after delete --all: %q", out)
	}
	if n := queueBodies(t, cfg); n != 0 {
		t.Errorf("%d message bodies left in the queue directory after delete --all", n)
	}
	if out := mustCLI(t, cfg, "", "queue", "retry", "--all"); out != "0 messages scheduled for retry\n" {
		t.Errorf("retry --all on an empty queue: %q", out)
	}
}

// queueBodies counts the files in the configuration's queue directory.
func queueBodies(t *testing.T, cfgPath string) int {
	t.Helper()
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	err = filepath.WalkDir(cfg.Store.QueueDir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			n++
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}
