package smtpin

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/cabalmail/cabalmail/internal/store"
)

// apexTTL is how long the list of hosted apexes is reused before it is
// read again. A domain not in the cached list is looked up again at once,
// so a new apex is never refused for relaying; one removed may still be
// taken as hosted for this long, and its addresses are refused anyway.
const apexTTL = time.Second

// apexCache answers "is this domain ours" from the store's domain list,
// read at most once per apexTTL instead of once per RCPT.
type apexCache struct {
	st store.Domains

	mu     sync.Mutex
	apexes []string // lower case
	at     time.Time
}

// hosted reports whether domain (lower case) is an apex we host or below
// one.
func (c *apexCache) hosted(ctx context.Context, domain string) (bool, error) {
	c.mu.Lock()
	apexes, fresh := c.apexes, !c.at.IsZero() && time.Since(c.at) < apexTTL
	c.mu.Unlock()
	if fresh && under(domain, apexes) {
		return true, nil
	}
	ds, err := c.st.ListDomains(ctx)
	if err != nil {
		return false, err
	}
	apexes = make([]string, len(ds))
	for i, d := range ds {
		apexes[i] = strings.ToLower(d.Apex)
	}
	c.mu.Lock()
	c.apexes, c.at = apexes, time.Now()
	c.mu.Unlock()
	return under(domain, apexes), nil
}

func under(domain string, apexes []string) bool {
	for _, apex := range apexes {
		if domain == apex || strings.HasSuffix(domain, "."+apex) {
			return true
		}
	}
	return false
}
