package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/cabalmail/cabalmail/internal/store"
)

// runSuppression is `cabalmail suppression list [--user NAME] [--all]
// [--json] | release ADDR [--user NAME]`: the per-user lists of recipients
// that bounced hard, which submission refuses until released.
func runSuppression(ctx context.Context, e *env, args []string) error {
	const usage = "usage: cabalmail suppression list [--user NAME] [--all] [--json] | release ADDR [--user NAME]"
	if len(args) == 0 || (args[0] != "list" && args[0] != "release") {
		return usagef(usage)
	}
	fs, cfgFlag := newFlags(e, "suppression "+args[0])
	user := fs.String("user", "", "only this user's list (default: every user)")
	var all, asJSON *bool
	if args[0] == "list" {
		all = fs.Bool("all", false, "include released entries (the history)")
		asJSON = fs.Bool("json", false, "print JSON")
	}
	pos, err := parseFlags(e, fs, args[1:])
	if err != nil {
		return err
	}
	switch {
	case args[0] == "list" && len(pos) != 0, args[0] == "release" && len(pos) != 1:
		return usagef(usage)
	}
	a, err := openApp(ctx, e, *cfgFlag)
	if err != nil {
		return err
	}
	defer a.Close()
	var userID int64
	names := map[int64]string{0: "(system)"}
	users, err := a.st.ListUsers(ctx)
	if err != nil {
		return err
	}
	for _, u := range users {
		names[u.ID] = u.Name
	}
	if *user != "" {
		u, err := a.st.UserByName(ctx, *user)
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("no user %q", *user)
		}
		if err != nil {
			return err
		}
		userID = u.ID
	}
	if args[0] == "release" {
		n, err := a.st.ReleaseSuppressions(ctx, userID, pos[0], "operator", time.Now())
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("%s is not suppressed", pos[0])
		}
		if err != nil {
			return err
		}
		if err := a.st.AddAudit(ctx, &store.AuditEntry{Actor: "operator", Action: "suppression.release", Target: pos[0],
			Detail: fmt.Sprintf("%d entries", n)}); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "released %s (%d entr%s)\n", pos[0], n, map[bool]string{true: "y", false: "ies"}[n == 1])
		return nil
	}
	list, err := a.st.ListSuppressions(ctx, store.SuppressionFilter{UserID: userID, ActiveOnly: !*all})
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(e.stdout, suppressionJSON(list, names))
	}
	printSuppressions(e.stdout, list, names)
	return nil
}

type suppressionEntry struct {
	User       string     `json:"user"`
	Address    string     `json:"address"`
	Reason     string     `json:"reason"`
	Code       string     `json:"code"`
	Text       string     `json:"text"`
	Provider   string     `json:"provider,omitempty"`
	QueueID    string     `json:"queue_id,omitempty"`
	Since      time.Time  `json:"since"`
	ReleasedAt *time.Time `json:"released_at,omitempty"`
	ReleasedBy string     `json:"released_by,omitempty"`
}

func suppressionJSON(list []store.Suppression, names map[int64]string) []suppressionEntry {
	out := []suppressionEntry{}
	for _, s := range list {
		j := suppressionEntry{User: userName(names, s.UserID), Address: s.Address, Reason: s.Reason, Code: s.Code, Text: s.Text,
			Provider: s.Provider, QueueID: s.QueueID, Since: s.CreatedAt, ReleasedBy: s.ReleasedBy}
		if !s.Active() {
			r := s.ReleasedAt
			j.ReleasedAt = &r
		}
		out = append(out, j)
	}
	return out
}

func userName(names map[int64]string, id int64) string {
	if n, ok := names[id]; ok {
		return n
	}
	return fmt.Sprintf("user#%d", id)
}

func printSuppressions(w io.Writer, list []store.Suppression, names map[int64]string) {
	if len(list) == 0 {
		fmt.Fprintln(w, "no suppressed recipients")
		return
	}
	fmt.Fprintf(w, "%-12s %-36s %-20s %-6s %-20s %s\n", "USER", "RECIPIENT", "SINCE", "CODE", "REASON", "STATE")
	for _, s := range list {
		state := "suppressed"
		if !s.Active() {
			state = fmt.Sprintf("released %s by %s", s.ReleasedAt.UTC().Format(time.RFC3339), s.ReleasedBy)
		}
		fmt.Fprintf(w, "%-12s %-36s %-20s %-6s %-20s %s\n", userName(names, s.UserID), s.Address,
			s.CreatedAt.UTC().Format(time.RFC3339), s.Code, s.Reason, state)
		if s.Text != "" {
			fmt.Fprintf(w, "    %s\n", oneLine(s.Text))
		}
	}
}
