package authres

import (
	"context"
	"net"
	"time"
)

// newResolver returns a resolver that sends every query to addr (host:port),
// or the system resolver when addr is empty.
func newResolver(addr string) *net.Resolver {
	if addr == "" {
		return &net.Resolver{PreferGo: true}
	}
	return &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
	}
}

// lookupTXT is the TXT look-up the DKIM and DMARC libraries call, bound to
// ctx since their callbacks take none.
func lookupTXT(ctx context.Context, r *net.Resolver) func(string) ([]string, error) {
	return func(name string) ([]string, error) {
		return r.LookupTXT(ctx, name)
	}
}

// defaultTimeout bounds all the look-ups for one message.
const defaultTimeout = 5 * time.Second
