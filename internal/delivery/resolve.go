package delivery

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"sort"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// resolver asks one DNS server (the configured one, or the first of the
// system's) for MX and address records, with short timeouts.
type resolver struct {
	servers []string
	client  *dns.Client
}

// dnsTimeout bounds one DNS query; a slow resolver defers, it does not
// stall a delivery session.
const dnsTimeout = 5 * time.Second

func newResolver(addr string) (*resolver, error) {
	r := &resolver{client: &dns.Client{Timeout: dnsTimeout}}
	if addr != "" {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return nil, fmt.Errorf("delivery: resolver %q: want host:port", addr)
		}
		r.servers = []string{addr}
		return r, nil
	}
	cc, err := dns.ClientConfigFromFile("/etc/resolv.conf")
	if err != nil || len(cc.Servers) == 0 {
		r.servers = []string{"127.0.0.1:53"}
		return r, nil
	}
	for _, s := range cc.Servers {
		r.servers = append(r.servers, net.JoinHostPort(s, cc.Port))
	}
	return r, nil
}

// errNoDomain is a definite answer: the domain does not exist (NXDOMAIN).
var errNoDomain = errors.New("domain does not exist")

// query asks the servers in turn; it retries over TCP when a UDP answer is
// truncated (RFC 7766 5).
func (r *resolver) query(ctx context.Context, name string, qtype uint16) (*dns.Msg, error) {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	m.RecursionDesired = true
	m.SetEdns0(1232, false)
	var lastErr error
	for _, srv := range r.servers {
		in, _, err := r.client.ExchangeContext(ctx, m, srv)
		if err == nil && in.Truncated {
			tcp := &dns.Client{Net: "tcp", Timeout: dnsTimeout}
			in, _, err = tcp.ExchangeContext(ctx, m, srv)
		}
		if err != nil {
			lastErr = err
			continue
		}
		switch in.Rcode {
		case dns.RcodeSuccess:
			return in, nil
		case dns.RcodeNameError:
			return in, errNoDomain
		default:
			lastErr = fmt.Errorf("%s %s: %s", name, dns.TypeToString[qtype], dns.RcodeToString[in.Rcode])
		}
	}
	return nil, fmt.Errorf("dns: %w", lastErr)
}

// mxHosts returns the MX hosts of domain in preference order, equal
// preferences shuffled (RFC 5321 5.1). With no MX record the domain itself
// is the one host (implicit MX, RFC 5321 5.1). nullMX is true for a single
// MX of "." (RFC 7505 3): the domain accepts no mail.
func (r *resolver) mxHosts(ctx context.Context, domain string) (hosts []string, nullMX bool, err error) {
	in, err := r.query(ctx, domain, dns.TypeMX)
	if err != nil {
		return nil, false, err
	}
	var mxs []*dns.MX
	for _, rr := range in.Answer {
		if mx, ok := rr.(*dns.MX); ok {
			mxs = append(mxs, mx)
		}
	}
	if len(mxs) == 0 {
		return []string{domain}, false, nil // RFC 5321 5.1: implicit MX
	}
	if len(mxs) == 1 && mxs[0].Mx == "." {
		return nil, true, nil // RFC 7505 3
	}
	rand.Shuffle(len(mxs), func(i, j int) { mxs[i], mxs[j] = mxs[j], mxs[i] })
	sort.SliceStable(mxs, func(i, j int) bool { return mxs[i].Preference < mxs[j].Preference })
	for _, mx := range mxs {
		if mx.Mx == "." {
			continue
		}
		hosts = append(hosts, strings.TrimSuffix(mx.Mx, "."))
	}
	return hosts, false, nil
}

// addrs returns the IPv6 and IPv4 addresses of host (A and AAAA, RFC 5321
// 5.1). A literal IP is returned as is.
func (r *resolver) addrs(ctx context.Context, host string) ([]string, error) {
	if ip := net.ParseIP(host); ip != nil {
		return []string{ip.String()}, nil
	}
	var out []string
	var lastErr error
	for _, t := range []uint16{dns.TypeAAAA, dns.TypeA} {
		in, err := r.query(ctx, host, t)
		if err != nil {
			lastErr = err
			continue
		}
		for _, rr := range in.Answer {
			switch v := rr.(type) {
			case *dns.A:
				out = append(out, v.A.String())
			case *dns.AAAA:
				out = append(out, v.AAAA.String())
			}
		}
	}
	if len(out) == 0 {
		if lastErr == nil {
			lastErr = fmt.Errorf("%s has no address record", host)
		}
		return nil, lastErr
	}
	return out, nil
}
