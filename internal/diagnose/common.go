package diagnose

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/cabalmail/cabalmail/internal/monitor"
)

// Options select the events a report covers.
type Options struct {
	Since time.Time // events at or after; zero: all
	Tier  string    // only this tier; "": every tier
	Now   time.Time // the report's "now" (ages); zero: time.Now()
	// Heartbeats are the periodic jobs the probes report lists; nil:
	// monitor.DefaultHeartbeats.
	Heartbeats []monitor.Heartbeat
}

func (o Options) now() time.Time {
	if o.Now.IsZero() {
		return time.Now()
	}
	return o.Now
}

// Count is a name (tier, code, domain, address) with how often it occurred.
type Count struct {
	Name  string `json:"name"`
	Count int    `json:"count"`
}

// counter tallies names and ranks them: most frequent first, then by name
// so that equal counts come out in a stable order.
type counter map[string]int

func (c counter) ranked() []Count {
	out := make([]Count, 0, len(c))
	for k, v := range c {
		out = append(out, Count{k, v})
	}
	slices.SortFunc(out, func(a, b Count) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), strings.Compare(a.Name, b.Name))
	})
	return out
}

// domainOf is the lower-cased domain of an address ("" for one without @).
func domainOf(addr string) string {
	i := strings.LastIndexByte(addr, '@')
	if i < 0 {
		return ""
	}
	return strings.ToLower(strings.TrimSuffix(addr[i+1:], "."))
}

// dsnClass is the first digit of an enhanced status code (RFC 3463 3.1),
// or "" if the code is missing or malformed.
func dsnClass(dsn string) string {
	if len(dsn) > 1 && dsn[1] == '.' && strings.ContainsRune("245", rune(dsn[0])) {
		return dsn[:1]
	}
	return ""
}

// isPermanent tells whether an event is a permanent failure: by its DSN
// when it has one, else by its status phrase.
func isPermanent(dsn, status string) bool {
	if c := dsnClass(dsn); c != "" {
		return c == "5"
	}
	return status != "Sent" && status != "Deferred"
}

func isDeferral(dsn, status string) bool {
	if c := dsnClass(dsn); c != "" {
		return c == "4"
	}
	return status == "Deferred"
}

// take limits a ranked list to its first n entries.
func take(c []Count, n int) []Count {
	if len(c) > n {
		return c[:n]
	}
	return c
}

// formatAge renders a duration for people: 3d4h, 2h5m, 4m10s, 12s.
func formatAge(d time.Duration) string {
	d = d.Truncate(time.Second)
	switch {
	case d >= 24*time.Hour:
		days := d / (24 * time.Hour)
		return fmt.Sprintf("%dd%dh", days, (d-days*24*time.Hour)/time.Hour)
	case d >= time.Hour:
		return fmt.Sprintf("%dh%dm", d/time.Hour, (d%time.Hour)/time.Minute)
	}
	return d.String()
}
