package web

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/cabalmail/cabalmail/internal/domains"
)

// dnsRecordCheck is one expected record and what our DNS role answered.
type dnsRecordCheck struct {
	Name     string   `json:"name"`
	Type     string   `json:"type"`
	Expected string   `json:"expected"`
	Got      []string `json:"got"`
	OK       bool     `json:"ok"`
	Problem  string   `json:"problem,omitempty"`
}

// dnsReport is the result of the admin DNS check.
type dnsReport struct {
	Server  string           `json:"server"`
	Checked int              `json:"checked"`
	Failed  int              `json:"failed"`
	Records []dnsRecordCheck `json:"records"`
}

// dnsUDPSize is the EDNS0 UDP payload size the DNS check offers.
const dnsUDPSize = 4096

// dnsCheck asks our DNS role for every record the store says should exist
// and compares the answers. Records whose value the operator must fill in
// (no public IPs configured) are skipped.
func (s *Server) dnsCheck(ctx context.Context) (dnsReport, error) {
	if s.opts.Domains == nil || s.opts.DNSServer == "" {
		return dnsReport{}, errf(http.StatusConflict, "dns_check_unavailable", "no DNS role is configured (dns.listen), so there is nothing to check")
	}
	server := s.opts.DNSServer
	rep := dnsReport{Server: server, Records: []dnsRecordCheck{}}
	ds, err := s.opts.Store.ListDomains(ctx)
	if err != nil {
		return dnsReport{}, err
	}
	seen := map[string]bool{}
	client := &dns.Client{Net: "udp", UDPSize: dnsUDPSize, Timeout: 2 * time.Second}
	for _, d := range ds {
		rs, err := s.opts.Domains.Records(ctx, d.Apex)
		if err != nil {
			return dnsReport{}, err
		}
		for _, rec := range rs.Full {
			if strings.HasPrefix(rec.Value, "<") {
				continue // a placeholder the operator fills in
			}
			key := rec.Name + " " + rec.Type + " " + rec.Value
			if seen[key] {
				continue
			}
			seen[key] = true
			rep.Records = append(rep.Records, checkRecord(ctx, client, server, rec))
		}
	}
	// Problems first: they are what the admin came for.
	sort.SliceStable(rep.Records, func(i, j int) bool { return !rep.Records[i].OK && rep.Records[j].OK })
	for _, c := range rep.Records {
		rep.Checked++
		if !c.OK {
			rep.Failed++
		}
	}
	return rep, nil
}

// checkRecord queries server for rec's name and type.
func checkRecord(ctx context.Context, client *dns.Client, server string, rec domains.Record) dnsRecordCheck {
	out := dnsRecordCheck{Name: rec.Name, Type: rec.Type, Expected: rec.Value, Got: []string{}}
	qtype, ok := dns.StringToType[rec.Type]
	if !ok {
		out.Problem = "unknown record type"
		return out
	}
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(rec.Name), qtype)
	m.RecursionDesired = false
	// RFC 6891 6.2.5: offer a large UDP buffer so a DKIM key fits in one
	// answer; a server that still truncates is asked again over TCP.
	m.SetEdns0(dnsUDPSize, false)
	resp, _, err := client.ExchangeContext(ctx, m, server)
	if err == nil && resp.Truncated {
		tcp := *client
		tcp.Net = "tcp"
		resp, _, err = tcp.ExchangeContext(ctx, m, server)
	}
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			out.Problem = "no answer from " + server + " (timeout)"
		} else {
			out.Problem = fmt.Sprintf("query failed: %v", err)
		}
		return out
	}
	if resp.Rcode != dns.RcodeSuccess {
		out.Problem = "answer " + dns.RcodeToString[resp.Rcode]
		return out
	}
	for _, rr := range resp.Answer {
		if rr.Header().Rrtype != qtype {
			continue
		}
		v := rrValue(rr)
		out.Got = append(out.Got, v)
		if sameValue(rec.Type, v, rec.Value) {
			out.OK = true
		}
	}
	sort.Strings(out.Got)
	if !out.OK {
		if len(out.Got) == 0 {
			out.Problem = "no such record"
		} else {
			out.Problem = "different value"
		}
	}
	return out
}

// rrValue renders an answer in the form domains.Record uses.
func rrValue(rr dns.RR) string {
	switch v := rr.(type) {
	case *dns.A:
		return v.A.String()
	case *dns.AAAA:
		return v.AAAA.String()
	case *dns.MX:
		return fmt.Sprintf("%d %s", v.Preference, v.Mx)
	case *dns.NS:
		return v.Ns
	case *dns.TXT:
		return strings.Join(v.Txt, "") // RFC 7208 3.3: strings are concatenated
	}
	return strings.TrimPrefix(rr.String(), rr.Header().String())
}

func sameValue(typ, got, want string) bool {
	switch typ {
	case "A", "AAAA":
		g, w := net.ParseIP(got), net.ParseIP(want)
		return g != nil && g.Equal(w)
	case "MX", "NS":
		return strings.EqualFold(dns.Fqdn(got), dns.Fqdn(want)) || strings.EqualFold(got, want)
	}
	return got == want
}
