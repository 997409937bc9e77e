package diagnose

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/cabalmail/cabalmail/internal/store"
)

// How many codes, domains and addresses a report lists.
const (
	topCodes     = 5
	topDomains   = 10
	topAddresses = 10
)

// dominantShare is the share of all outbound bounces one recipient domain
// must have for the verdict to blame that provider rather than us.
const dominantShare = 0.6

// Code is an enhanced status code with how often it occurred and the text
// of its most recent occurrence.
type Code struct {
	Tier  string `json:"tier"`
	DSN   string `json:"dsn"`
	Count int    `json:"count"`
	Text  string `json:"text"`
}

// Refused is an address the MX refused, and what it is in the store.
type Refused struct {
	Address string `json:"address"`
	Count   int    `json:"count"`
	Exists  bool   `json:"exists"`
	State   string `json:"state,omitempty"` // active or suspended, if it exists
}

// BounceReport answers "which tier is bouncing, with which codes, to which
// providers, and is it them or us?".
type BounceReport struct {
	Since   time.Time `json:"since,omitzero"`
	Total   int       `json:"total"`
	Tiers   []Count   `json:"tiers"`
	Codes   []Code    `json:"codes"`
	Domains []Count   `json:"smtp_out_domains"` // recipient domains of outbound bounces, ranked
	Verdict string    `json:"verdict,omitempty"`
	Refused []Refused `json:"smtp_in_refused"` // addresses the MX refused, ranked
	// Suspect lists the providers whose hard bounces smtp-out holds as
	// temporary (suspect.go), with the affected recipients.
	Suspect []SuspectProvider `json:"suspect_providers"`
}

// Bounces reports the permanent failures (dsn 5.x.x) in the events opts
// selects.
func Bounces(ctx context.Context, st Store, opts Options) (BounceReport, error) {
	events, err := st.ListEvents(ctx, store.EventFilter{Since: opts.Since, Tier: opts.Tier})
	if err != nil {
		return BounceReport{}, fmt.Errorf("diagnose: bounces: %w", err)
	}
	r := BounceReport{Since: opts.Since, Tiers: []Count{}, Codes: []Code{}, Domains: []Count{}, Refused: []Refused{}}
	tiers, domains, refused := counter{}, counter{}, counter{}
	codes := map[[2]string]*Code{}
	var order [][2]string
	for _, e := range events { // newest first, so the first text seen is the latest
		if !isPermanent(e.DSN, e.Status) {
			continue
		}
		r.Total++
		tiers[e.Tier]++
		k := [2]string{e.Tier, e.DSN}
		c := codes[k]
		if c == nil {
			c = &Code{Tier: e.Tier, DSN: e.DSN, Text: codeText(e)}
			codes[k] = c
			order = append(order, k)
		}
		c.Count++
		switch e.Tier {
		case "smtp-in":
			refused[strings.ToLower(e.Rcpt)]++
		default:
			if d := domainOf(e.Rcpt); d != "" {
				domains[d]++
			}
		}
	}
	r.Tiers = tiers.ranked()
	for _, k := range order {
		r.Codes = append(r.Codes, *codes[k])
	}
	sortCodes(r.Codes)
	r.Codes = r.Codes[:min(len(r.Codes), topCodes)]
	ranked := domains.ranked()
	r.Verdict = bounceVerdict(ranked)
	r.Domains = take(ranked, topDomains)
	for _, c := range take(refused.ranked(), topAddresses) {
		ref := Refused{Address: c.Name, Count: c.Count}
		a, err := st.AddressByName(ctx, c.Name)
		switch {
		case err == nil:
			ref.Exists, ref.State = true, string(a.State)
		case errors.Is(err, store.ErrNotFound):
		default:
			return BounceReport{}, fmt.Errorf("diagnose: bounces: look up %s: %w", c.Name, err)
		}
		r.Refused = append(r.Refused, ref)
	}
	if r.Suspect, err = suspectProviders(ctx, st, opts.now()); err != nil {
		return BounceReport{}, err
	}
	return r, nil
}

// codeText is the human part of an event: the remote reply or reason,
// else its status phrase.
func codeText(e store.Event) string {
	if e.Detail != "" {
		return e.Detail
	}
	return e.Status
}

func sortCodes(c []Code) {
	slices.SortStableFunc(c, func(a, b Code) int { return cmp.Compare(b.Count, a.Count) })
}

// bounceVerdict says whether one provider is refusing us or the refusals
// are spread (which points at our own reputation, SPF or DKIM signing).
func bounceVerdict(domains []Count) string {
	if len(domains) == 0 {
		return ""
	}
	total := 0
	for _, d := range domains {
		total += d.Count
	}
	top := domains[0]
	if len(domains) == 1 || float64(top.Count) >= dominantShare*float64(total) {
		return fmt.Sprintf("one provider dominates: %s %d of %d → that provider is refusing us", top.Name, top.Count, total)
	}
	return fmt.Sprintf("spread across %d providers → our reputation or signing", len(domains))
}

// WriteText writes the report for people.
func (r BounceReport) WriteText(w io.Writer) error {
	p := &printer{w: w}
	r.writeSuspect(p)
	p.f("Bounces (dsn 5.x.x)%s: %d\n", sinceText(r.Since), r.Total)
	if r.Total == 0 {
		return p.err
	}
	p.f("\nBy tier:\n")
	for _, t := range r.Tiers {
		p.f("  %-10s %d\n", t.Name, t.Count)
	}
	p.f("\nMost frequent codes:\n")
	for _, c := range r.Codes {
		p.f("  %-10s %-7s %4d  %s\n", c.Tier, c.DSN, c.Count, c.Text)
	}
	if len(r.Domains) > 0 {
		p.f("\nsmtp-out recipient domains:\n")
		for _, d := range r.Domains {
			p.f("  %-30s %d\n", d.Name, d.Count)
		}
		p.f("\nVerdict: %s\n", r.Verdict)
	}
	if len(r.Refused) > 0 {
		p.f("\nsmtp-in refused addresses:\n")
		for _, a := range r.Refused {
			what := "does not exist (revoked or never created)"
			if a.Exists {
				what = "exists, " + a.State
			}
			p.f("  %-40s %4d  %s\n", a.Address, a.Count, what)
		}
	}
	return p.err
}

// printer writes formatted text and keeps the first error.
type printer struct {
	w   io.Writer
	err error
}

func (p *printer) f(format string, args ...any) {
	if p.err == nil {
		_, p.err = fmt.Fprintf(p.w, format, args...)
	}
}

func sinceText(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return " since " + t.UTC().Format(time.RFC3339)
}
