package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/cabalmail/cabalmail/internal/blob"
	"github.com/cabalmail/cabalmail/internal/queue"
)

// openQueue opens the outbound queue of the configured store and blobs; it
// works while a server runs on the same store.
func openQueue(ctx context.Context, e *env, cfgFlag string) (*app, *queue.Queue, error) {
	a, err := openApp(ctx, e, cfgFlag)
	if err != nil {
		return nil, nil, err
	}
	blobs, err := blob.OpenDir(a.cfg.Store.QueueDir)
	if err != nil {
		a.Close()
		return nil, nil, err
	}
	q, err := queue.Open(ctx, queue.Options{Store: a.st, Blobs: blobs, Hostname: a.cfg.Hostname, Retry: queue.PolicyOf(a.cfg.Outbound)})
	if err != nil {
		a.Close()
		return nil, nil, err
	}
	return a, q, nil
}

// runMailq is `cabalmail mailq [--tier T] [--json]`: the outbound queue,
// one entry per message, and a count line as sendmail prints.
func runMailq(ctx context.Context, e *env, args []string) error {
	fs, cfgFlag := newFlags(e, "mailq")
	tier := fs.String("tier", queue.Tier, "the tier whose queue to list (only smtp-out has one)")
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parseFlags(e, fs, args)
	if err != nil {
		return err
	}
	if err := wantArgs("mailq", pos, 0, "[--tier T] [--json]"); err != nil {
		return err
	}
	if *tier != queue.Tier {
		return usagef("--tier: %q has no queue; only %s queues mail", *tier, queue.Tier)
	}
	a, q, err := openQueue(ctx, e, *cfgFlag)
	if err != nil {
		return err
	}
	defer a.Close()
	items, err := q.List(ctx)
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(e.stdout, mailqJSON(items))
	}
	printMailq(e.stdout, items)
	return nil
}

type mailqItem struct {
	ID          string          `json:"id"`
	Tier        string          `json:"tier"`
	Created     time.Time       `json:"created"`
	AgeSeconds  int64           `json:"age_seconds"`
	Size        int64           `json:"size"`
	Sender      string          `json:"sender"`
	State       string          `json:"state"`
	Attempts    int             `json:"attempts"`
	LastError   string          `json:"last_error,omitempty"`
	NextAttempt time.Time       `json:"next_attempt"`
	Recipients  []mailqRcptJSON `json:"recipients"`
}

type mailqRcptJSON struct {
	Address   string `json:"address"`
	State     string `json:"state"`
	LastDSN   string `json:"last_dsn,omitempty"`
	LastError string `json:"last_error,omitempty"`
}

func mailqJSON(items []queue.Item) []mailqItem {
	out := make([]mailqItem, 0, len(items))
	for _, it := range items {
		m := mailqItem{ID: it.ID, Tier: queue.Tier, Created: it.Created, AgeSeconds: int64(it.Age / time.Second), Size: it.Size,
			Sender: it.Sender, State: string(it.State), Attempts: it.Attempts, LastError: it.LastError, NextAttempt: it.NextAttempt,
			Recipients: []mailqRcptJSON{}}
		for _, r := range it.Recipients {
			m.Recipients = append(m.Recipients, mailqRcptJSON{Address: r.Address, State: string(r.State), LastDSN: r.LastDSN, LastError: r.LastError})
		}
		out = append(out, m)
	}
	return out
}

// printMailq writes the queue in sendmail's mailq layout: a header line per
// message, its recipients indented, and a count line at the end.
func printMailq(w io.Writer, items []queue.Item) {
	if len(items) == 0 {
		fmt.Fprintf(w, "%s queue is empty\n", queue.Tier)
		return
	}
	fmt.Fprintf(w, "%-16s %8s %8s %-9s %-20s %s\n", "ID", "Age", "Size", "State", "Next attempt", "Sender/Recipient")
	var total int64
	for _, it := range items {
		sender := it.Sender
		if sender == "" {
			sender = "<>"
		}
		next := "-"
		if it.State != queue.StateHeld && it.State != queue.StateActive {
			next = it.NextAttempt.UTC().Format("2006-01-02 15:04:05")
		}
		fmt.Fprintf(w, "%-16s %8s %8d %-9s %-20s %s\n", it.ID, age(it.Age), it.Size, it.State, next, sender)
		if it.LastError != "" {
			fmt.Fprintf(w, "%65s(%s)\n", "", oneLine(it.LastError))
		}
		for _, r := range it.Recipients {
			if r.State != "pending" {
				continue
			}
			fmt.Fprintf(w, "%65s%s\n", "", r.Address)
		}
		total += it.Size
	}
	fmt.Fprintf(w, "-- %d Kbytes in %d Request%s.\n", (total+1023)/1024, len(items), plural(len(items)))
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func oneLine(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	if len(s) > 120 {
		s = s[:120] + "..."
	}
	return s
}

// age renders a duration as mailq does: 45s, 12m, 3h, 2d.
func age(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d/time.Minute))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d/time.Hour))
	}
	return fmt.Sprintf("%dd", int(d/(24*time.Hour)))
}

// runQueue is `cabalmail queue retry|hold|release|delete ID|--all`.
func runQueue(ctx context.Context, e *env, args []string) error {
	const usage = "usage: cabalmail queue retry|hold|release|delete ID|--all"
	if len(args) == 0 {
		return usagef(usage)
	}
	action := args[0]
	fs, cfgFlag := newFlags(e, "queue "+action)
	all := fs.Bool("all", false, "act on every queued message")
	pos, err := parseFlags(e, fs, args[1:])
	if err != nil {
		return err
	}
	if *all && len(pos) != 0 || !*all && len(pos) != 1 {
		return usagef(usage)
	}
	past := map[string]string{"retry": "scheduled for retry", "hold": "held", "release": "released", "delete": "deleted"}[action]
	if past == "" {
		return usagef("queue: unknown action %q; %s", action, usage)
	}
	if !*all {
		if err := queue.CheckID(pos[0]); err != nil {
			return usagef("queue %s: %q is not a queue ID (16 hex digits, as mailq shows them)", action, pos[0])
		}
	}
	a, q, err := openQueue(ctx, e, *cfgFlag)
	if err != nil {
		return err
	}
	defer a.Close()
	one := map[string]func(context.Context, string) error{"retry": q.Retry, "hold": q.Hold, "release": q.Release, "delete": q.Delete}
	many := map[string]func(context.Context) (int, error){"retry": q.RetryAll, "hold": q.HoldAll, "release": q.ReleaseAll, "delete": q.DeleteAll}
	if *all {
		n, err := many[action](ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "%d message%s %s\n", n, plural(n), past)
		return nil
	}
	if err := one[action](ctx, pos[0]); err != nil {
		if errors.Is(err, queue.ErrNotFound) {
			return fmt.Errorf("queue %s: no queued message %s", action, pos[0])
		}
		return err
	}
	fmt.Fprintf(e.stdout, "%s %s\n", pos[0], past)
	return nil
}
