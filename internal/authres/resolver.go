package authres

import (
	"context"
	"net"
	"strings"
	"sync"
	"time"
)

// resolver sends every query to one DNS server (or the system's), asks
// for absolute names so no search domain is ever appended, and keeps TXT
// answers and "no such name" for a short while, as a caching resolver
// would: a burst of mail from one sender asks the same questions.
type resolver struct {
	*net.Resolver

	mu    sync.Mutex
	cache map[string]txtEntry
}

type txtEntry struct {
	txts    []string
	err     error // nil or a not-found *net.DNSError
	expires time.Time
}

const (
	txtCacheFor  = 30 * time.Second
	txtCacheSize = 10000
)

// newResolver returns a resolver that sends every query to addr
// (host:port), or to the system resolver when addr is empty.
func newResolver(addr string) *resolver {
	r := &net.Resolver{PreferGo: true}
	if addr != "" {
		r.Dial = func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		}
	}
	return &resolver{Resolver: r, cache: map[string]txtEntry{}}
}

func absolute(name string) string {
	if strings.HasSuffix(name, ".") {
		return name
	}
	return name + "."
}

// LookupTXT implements the TXT look-up of spf.DNSResolver, with the cache.
func (r *resolver) LookupTXT(ctx context.Context, name string) ([]string, error) {
	name = strings.ToLower(absolute(name))
	now := time.Now()
	r.mu.Lock()
	if e, ok := r.cache[name]; ok && now.Before(e.expires) {
		r.mu.Unlock()
		return e.txts, e.err
	}
	r.mu.Unlock()
	txts, err := r.Resolver.LookupTXT(ctx, name)
	if dnsErr, ok := err.(*net.DNSError); err == nil || ok && dnsErr.IsNotFound {
		r.mu.Lock()
		if len(r.cache) >= txtCacheSize {
			clear(r.cache)
		}
		r.cache[name] = txtEntry{txts: txts, err: err, expires: now.Add(txtCacheFor)}
		r.mu.Unlock()
	}
	return txts, err
}

// LookupMX, LookupIPAddr and LookupAddr complete spf.DNSResolver.
func (r *resolver) LookupMX(ctx context.Context, name string) ([]*net.MX, error) {
	return r.Resolver.LookupMX(ctx, absolute(name))
}

func (r *resolver) LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error) {
	return r.Resolver.LookupIPAddr(ctx, absolute(host))
}

// lookupTXT is the TXT look-up the DKIM and DMARC libraries call, bound to
// ctx since their callbacks take none.
func lookupTXT(ctx context.Context, r *resolver) func(string) ([]string, error) {
	return func(name string) ([]string, error) {
		return r.LookupTXT(ctx, name)
	}
}

// defaultTimeout bounds all the look-ups for one message.
const defaultTimeout = 5 * time.Second
