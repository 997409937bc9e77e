package dnsd

import (
	"strings"

	"github.com/miekg/dns"
)

// Message sizes.
const (
	minUDPSize = 512  // RFC 1035 4.2.1: without EDNS(0), UDP replies fit 512 octets
	ourUDPSize = 1232 // advertised EDNS(0) buffer (the DNS flag day 2020 value)
	maxChase   = 8    // CNAMEs followed inside our own data
)

// answer builds the reply to req from snap. udp says whether the reply
// goes over UDP and must fit the client's buffer.
func answer(snap *snapshot, req *dns.Msg, udp bool) *dns.Msg {
	m := lookup(snap, req)
	opt := req.IsEdns0()
	size := minUDPSize
	if opt != nil && req.Opcode == dns.OpcodeQuery && len(req.Question) == 1 {
		// RFC 6891 6.1.1: a reply to an EDNS query carries our OPT.
		m.SetEdns0(ourUDPSize, false)
		size = max(size, min(int(opt.UDPSize()), dns.MaxMsgSize))
		if opt.Version() != 0 {
			// RFC 6891 6.1.3: an unknown version gets BADVERS, no data.
			m.Answer, m.Ns = nil, nil
			m.Extra = []dns.RR{m.IsEdns0()}
			m.Authoritative = false
			m.Rcode = dns.RcodeBadVers
		}
	}
	if udp {
		m.Truncate(size) // RFC 2181 9: TC when the reply does not fit
	}
	m.Compress = true
	return m
}

// lookup finds the data for req's question.
func lookup(snap *snapshot, req *dns.Msg) *dns.Msg {
	m := new(dns.Msg)
	m.SetReply(req)
	m.Compress = true
	// RFC 1035 4.1.1: RA says whether recursion is available; it is not.
	m.RecursionAvailable = false
	m.AuthenticatedData = false

	if req.Opcode != dns.OpcodeQuery {
		m.Question = nil
		m.Rcode = dns.RcodeNotImplemented // RFC 1035 4.1.1
		return m
	}
	if len(req.Question) != 1 {
		m.Question = nil
		m.Rcode = dns.RcodeFormatError
		return m
	}

	q := req.Question[0]
	if q.Qclass != dns.ClassINET && q.Qclass != dns.ClassANY {
		m.Rcode = dns.RcodeRefused
		return m
	}
	switch q.Qtype {
	case dns.TypeAXFR, dns.TypeIXFR:
		// No zone transfers: the data lives in the shared store, which
		// every name server reads itself.
		m.Rcode = dns.RcodeRefused
		return m
	}
	name := strings.ToLower(q.Name) // RFC 4343: names compare case-insensitively
	z := snap.zoneOf(name)
	if z == nil {
		// Not ours and no recursion: refuse (RFC 1035 4.3.1 lets a server
		// decline; REFUSED is the code for policy).
		m.Rcode = dns.RcodeRefused
		return m
	}
	m.Authoritative = true // RFC 1035 4.1.1: AA for answers from our zones

	owner := q.Name // answers keep the asker's spelling of the name
	for hop := 0; ; hop++ {
		n := snap.names[name]
		if n == nil {
			// RFC 2308 2.1: name error, with the zone's SOA in authority;
			// after a CNAME the code is the target's (RFC 6604 3).
			m.Rcode = dns.RcodeNameError
			m.Ns = []dns.RR{negativeSOA(z)}
			return m
		}
		if cn := n.sets[dns.TypeCNAME]; len(cn) > 0 && q.Qtype != dns.TypeCNAME {
			// RFC 1034 4.3.2 step 3a: give the CNAME and go on with its
			// target when that is ours too.
			m.Answer = append(m.Answer, withOwner(cn, owner)...)
			target := strings.ToLower(cn[0].(*dns.CNAME).Target)
			z = snap.zoneOf(target)
			if z == nil || hop >= maxChase || seen(m.Answer, target) {
				return m
			}
			name, owner = target, target
			continue
		}
		var rrs []dns.RR
		if q.Qtype == dns.TypeANY {
			for _, set := range n.sets {
				rrs = append(rrs, set...)
			}
		} else {
			rrs = n.sets[q.Qtype]
		}
		if len(rrs) == 0 {
			// RFC 2308 2.2: no data, NOERROR with the SOA in authority.
			m.Ns = []dns.RR{negativeSOA(z)}
			return m
		}
		m.Answer = append(m.Answer, withOwner(rrs, owner)...)
		if name == z.apex && q.Qtype != dns.TypeNS && q.Qtype != dns.TypeANY {
			m.Ns = append(m.Ns, z.ns...)
		}
		m.Extra = append(m.Extra, additional(snap, rrs)...)
		return m
	}
}

// negativeSOA is the zone's SOA for a negative answer, whose TTL is the
// SOA minimum (RFC 2308 3).
func negativeSOA(z *zone) dns.RR {
	soa := *z.soa
	soa.Hdr.Ttl = min(soa.Hdr.Ttl, soa.Minttl)
	return &soa
}

// withOwner copies rrs under the given owner spelling.
func withOwner(rrs []dns.RR, owner string) []dns.RR {
	out := make([]dns.RR, len(rrs))
	for i, rr := range rrs {
		c := dns.Copy(rr)
		c.Header().Name = owner
		out[i] = c
	}
	return out
}

// additional gives the addresses of the hosts an answer names (RFC 1035
// 3.3.9 and 3.3.11: MX and NS answers carry them in the additional section).
func additional(snap *snapshot, rrs []dns.RR) []dns.RR {
	var out []dns.RR
	for _, rr := range rrs {
		var host string
		switch v := rr.(type) {
		case *dns.MX:
			host = v.Mx
		case *dns.NS:
			host = v.Ns
		case *dns.SRV:
			host = v.Target
		default:
			continue
		}
		if n := snap.names[strings.ToLower(host)]; n != nil {
			out = append(out, n.sets[dns.TypeA]...)
			out = append(out, n.sets[dns.TypeAAAA]...)
		}
	}
	return out
}

func seen(answer []dns.RR, name string) bool {
	for _, rr := range answer {
		if strings.EqualFold(rr.Header().Name, name) {
			return true
		}
	}
	return false
}
