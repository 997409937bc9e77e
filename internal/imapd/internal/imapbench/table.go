package main

import (
	"fmt"
	"io"
	"time"
)

func ms(d time.Duration) string {
	if d < 10*time.Millisecond {
		return fmt.Sprintf("%.3f ms", float64(d.Microseconds())/1000)
	}
	return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000)
}

// printTable prints the results as a Markdown table, ours beside Dovecot.
func printTable(w io.Writer, n, idle int, rs []*results) {
	var ours, dove *results
	for _, r := range rs {
		if r.name == "dovecot" {
			dove = r
		} else {
			ours = r
		}
	}
	cell := func(r *results, f func(*results) string) string {
		if r == nil {
			return "-"
		}
		return f(r)
	}
	ratio := func(f func(*results) float64) string {
		if ours == nil || dove == nil || f(dove) == 0 {
			return "-"
		}
		return fmt.Sprintf("%.2f", f(ours)/f(dove))
	}
	fmt.Fprintf(w, "\nIMAP benchmark: %d messages in INBOX, %d idle connections, median of runs\n\n", n, idle)
	fmt.Fprintln(w, "| measure | cabalmail | Dovecot | ours/Dovecot | target |")
	fmt.Fprintln(w, "|---|---|---|---|---|")
	row := func(name string, f func(*results) string, rf func(*results) float64, target string) {
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s |\n", name, cell(ours, f), cell(dove, f), ratio(rf), target)
	}
	dur := func(get func(*results) time.Duration) (func(*results) string, func(*results) float64) {
		return func(r *results) string { return ms(get(r)) }, func(r *results) float64 { return get(r).Seconds() }
	}
	for _, m := range []struct {
		name, target string
		get          func(*results) time.Duration
	}{
		{"fill (ours: Deliver; Dovecot: write Maildir files)", "", func(r *results) time.Duration { return r.fill }},
		{"first SELECT (Dovecot: builds its index)", "", func(r *results) time.Duration { return r.coldSelect }},
		{"NOOP on an open connection (round-trip floor)", "", func(r *results) time.Duration { return r.noop }},
		{"NOOP with INBOX selected", "", func(r *results) time.Duration { return r.noopSelected }},
		{"NOOP right after LOGIN (floor of the next row)", "", func(r *results) time.Duration { return r.noopLogin }},
		{"SELECT INBOX (warm, right after LOGIN)", "≤ 0.5", func(r *results) time.Duration { return r.selectT }},
		{"SELECT INBOX (again on an open connection)", "≤ 0.5", func(r *results) time.Duration { return r.reselect }},
		{"UID FETCH 1:* (UID FLAGS)", "≤ 0.5", func(r *results) time.Duration { return r.fetch }},
		{"UID SEARCH HEADER Subject", "≤ 0.5", func(r *results) time.Duration { return r.search }},
		{"UID SEARCH BODY", "≤ 0.5", func(r *results) time.Duration { return r.bodySrch }},
	} {
		f, rf := dur(m.get)
		row(m.name, f, rf, m.target)
	}
	row("FETCH lines / SEARCH hits (HEADER, BODY)", func(r *results) string {
		return fmt.Sprintf("%d / %d, %d", r.fetchLines, r.searchHits, r.bodyHits)
	}, func(*results) float64 { return 0 }, "equal")
	row("memory per idle IDLE connection (VmRSS delta)", func(r *results) string { return fmt.Sprintf("%.1f KiB", r.idleRSS) },
		func(r *results) float64 { return r.idleRSS }, "≤ 32 KiB")
	row("memory per idle IDLE connection (Pss delta)", func(r *results) string { return fmt.Sprintf("%.1f KiB", r.idlePSS) },
		func(r *results) float64 { return r.idlePSS }, "")
	bands := 0
	for _, r := range rs {
		bands = max(bands, len(r.appendBands))
	}
	for b := range bands {
		band := func(r *results) float64 {
			if b < len(r.appendBands) {
				return r.appendBands[b]
			}
			return 0
		}
		row(fmt.Sprintf("APPEND/s, 10 clients, messages %dk-%dk", b*appendBand/1000, (b+1)*appendBand/1000),
			func(r *results) string {
				if v := band(r); v > 0 {
					if end := (b + 1) * appendBand; r.appendN < end {
						return fmt.Sprintf("%.0f (to %gk)", v, float64(r.appendN)/1000)
					}
					return fmt.Sprintf("%.0f", v)
				}
				return "-"
			}, band, "≥ 1, steady")
	}
	fmt.Fprintln(w)
}
