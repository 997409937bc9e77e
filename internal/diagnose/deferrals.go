package diagnose

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/cabalmail/cabalmail/internal/store"
)

// codeGroups give each subject of a 4.x.y code (RFC 3463 3.3 to 3.9) the
// meaning an operator acts on.
var codeGroups = []struct{ prefix, meaning string }{
	{"4.4.", "connectivity or MX: no answer, connection refused, DNS, routing"},
	{"4.7.", "policy or greylisting: the remote server wants us to wait"},
	{"4.5.", "remote congestion or protocol trouble"},
	{"4.2.", "mailbox full or over quota"},
	{"4.3.", "mail system trouble (on smtp-in: ours, store or disk)"},
	{"4.1.", "address trouble (temporary)"},
	{"4.6.", "message content or conversion"},
}

// Group is one subject of 4.x.y codes with its meaning and codes.
type Group struct {
	Subject string `json:"subject"` // "4.4.x"
	Meaning string `json:"meaning"`
	Count   int    `json:"count"`
	Codes   []Code `json:"codes"`
}

// QueueSize is the outbound queue now.
type QueueSize struct {
	Messages int `json:"messages"`
	Pending  int `json:"pending"` // not held
	Held     int `json:"held"`
}

// Oldest is the queue's oldest message.
type Oldest struct {
	ID         string        `json:"id"`
	Age        time.Duration `json:"age_ns"`
	Recipients []string      `json:"recipients"` // those still pending
	Attempts   int           `json:"attempts"`
	LastError  string        `json:"last_error,omitempty"`
	Held       bool          `json:"held"`
}

// DeferralReport answers "who is deferring, why, to where, and how old is
// the oldest queued message?".
type DeferralReport struct {
	Since        time.Time  `json:"since,omitzero"`
	Total        int        `json:"total"`
	Tiers        []Count    `json:"tiers"`
	Queue        *QueueSize `json:"smtp_out_queue,omitempty"`
	Groups       []Group    `json:"groups"`
	Destinations []Count    `json:"destinations"`
	Oldest       *Oldest    `json:"oldest,omitempty"`
}

// Deferrals reports the temporary failures (dsn 4.x.y) in the events opts
// selects, with the outbound queue as it is now (unless opts.Tier names
// another tier).
func Deferrals(ctx context.Context, st Store, opts Options) (DeferralReport, error) {
	events, err := st.ListEvents(ctx, store.EventFilter{Since: opts.Since, Tier: opts.Tier})
	if err != nil {
		return DeferralReport{}, fmt.Errorf("diagnose: deferrals: %w", err)
	}
	r := DeferralReport{Since: opts.Since, Tiers: []Count{}, Groups: []Group{}, Destinations: []Count{}}
	tiers, dests := counter{}, counter{}
	groups := map[string]*Group{}
	codes := map[[2]string]*Code{}
	for _, e := range events {
		if !isDeferral(e.DSN, e.Status) {
			continue
		}
		r.Total++
		tiers[e.Tier]++
		if d := domainOf(e.Rcpt); d != "" {
			dests[d]++
		}
		subject, meaning := "4.x.x", "unclassified"
		for _, g := range codeGroups {
			if strings.HasPrefix(e.DSN, g.prefix) {
				subject, meaning = g.prefix+"x", g.meaning
				break
			}
		}
		g := groups[subject]
		if g == nil {
			g = &Group{Subject: subject, Meaning: meaning}
			groups[subject] = g
		}
		g.Count++
		k := [2]string{e.Tier, e.DSN}
		if codes[k] == nil {
			codes[k] = &Code{Tier: e.Tier, DSN: e.DSN, Text: codeText(e)}
		}
		codes[k].Count++
	}
	for _, g := range groups {
		for k, c := range codes {
			if subjectOf(k[1]) == g.Subject {
				g.Codes = append(g.Codes, *c)
			}
		}
		slices.SortFunc(g.Codes, func(a, b Code) int {
			return cmp.Or(cmp.Compare(b.Count, a.Count), strings.Compare(a.Tier, b.Tier), strings.Compare(a.DSN, b.DSN))
		})
		r.Groups = append(r.Groups, *g)
	}
	slices.SortFunc(r.Groups, func(a, b Group) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), strings.Compare(a.Subject, b.Subject))
	})
	r.Tiers = tiers.ranked()
	r.Destinations = take(dests.ranked(), topDomains)
	if opts.Tier == "" || opts.Tier == "smtp-out" {
		if err := r.addQueue(ctx, st, opts.now()); err != nil {
			return DeferralReport{}, err
		}
	}
	return r, nil
}

func subjectOf(dsn string) string {
	for _, g := range codeGroups {
		if strings.HasPrefix(dsn, g.prefix) {
			return g.prefix + "x"
		}
	}
	return "4.x.x"
}

func (r *DeferralReport) addQueue(ctx context.Context, st Store, now time.Time) error {
	items, err := st.ListQueue(ctx) // oldest first
	if err != nil {
		return fmt.Errorf("diagnose: deferrals: list queue: %w", err)
	}
	q := &QueueSize{Messages: len(items)}
	for _, it := range items {
		if it.Held {
			q.Held++
		} else {
			q.Pending++
		}
	}
	r.Queue = q
	if len(items) > 0 {
		it := items[0]
		o := &Oldest{ID: it.ID, Age: now.Sub(it.CreatedAt), Attempts: it.Attempts, LastError: it.LastError, Held: it.Held, Recipients: []string{}}
		for _, rc := range it.Recipients {
			if rc.State == store.RecipientPending {
				o.Recipients = append(o.Recipients, rc.Rcpt)
			}
		}
		r.Oldest = o
	}
	return nil
}

// WriteText writes the report for people.
func (r DeferralReport) WriteText(w io.Writer) error {
	p := &printer{w: w}
	p.f("Deferrals (dsn 4.x.y)%s: %d\n", sinceText(r.Since), r.Total)
	if len(r.Tiers) > 0 {
		p.f("\nBy tier:\n")
		for _, t := range r.Tiers {
			p.f("  %-10s %d\n", t.Name, t.Count)
		}
	}
	if r.Queue != nil {
		p.f("\nsmtp-out queue: %d messages (%d pending, %d held)\n", r.Queue.Messages, r.Queue.Pending, r.Queue.Held)
	}
	if len(r.Groups) > 0 {
		p.f("\nCodes by meaning:\n")
		for _, g := range r.Groups {
			p.f("  %-6s %4d  %s\n", g.Subject, g.Count, g.Meaning)
			for _, c := range g.Codes {
				p.f("         %-10s %-7s %4d  %s\n", c.Tier, c.DSN, c.Count, c.Text)
			}
		}
	}
	if len(r.Destinations) > 0 {
		p.f("\nDestinations:\n")
		for _, d := range r.Destinations {
			p.f("  %-30s %d\n", d.Name, d.Count)
		}
	}
	if o := r.Oldest; o != nil {
		held := ""
		if o.Held {
			held = ", held"
		}
		p.f("\nOldest message: %s, %s old, %d attempts%s, to %s\n", o.ID, formatAge(o.Age), o.Attempts, held, strings.Join(o.Recipients, ", "))
		if o.LastError != "" {
			p.f("  last error: %s\n", o.LastError)
		}
	}
	return p.err
}
