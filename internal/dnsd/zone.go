package dnsd

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"

	"github.com/miekg/dns"

	"github.com/cabalmail/cabalmail/internal/dkim"
	"github.com/cabalmail/cabalmail/internal/domains"
)

// SOA timers (RFC 1035 3.3.13). The minimum is the negative-caching TTL
// (RFC 2308 5): short, so that a subdomain created after a resolver cached
// its absence appears soon.
const (
	soaRefresh = 3600
	soaRetry   = 600
	soaExpire  = 1209600
	soaMinimum = 60
	soaTTL     = 3600
)

// snapshot is the immutable answer data of one moment; queries read it
// without locks or store access.
type snapshot struct {
	serial uint32
	hash   string
	zones  map[string]*zone // by apex, lower-case, fully qualified
	// names holds every owner name and every empty non-terminal between
	// an owner and its zone apex (RFC 8020: such a name exists).
	names map[string]*node
	// unplaced counts static records outside every zone (logged).
	unplaced []domains.Record
}

type zone struct {
	apex string
	soa  *dns.SOA
	ns   []dns.RR
}

// node is the data at one name: RRsets by type.
type node struct {
	sets map[uint16][]dns.RR
}

// hashZones fingerprints the derived data; the serial changes when it does.
func hashZones(z domains.Zones) string {
	h := sha256.New()
	fmt.Fprintf(h, "control %s\nns %s\n", z.Control, z.NameServer)
	for _, a := range z.Apexes {
		fmt.Fprintf(h, "apex %s\n", a)
	}
	for _, r := range z.Records {
		if !r.Placeholder {
			fmt.Fprintf(h, "%s %d %s %q\n", r.Name, r.TTL, r.Type, r.Value)
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

// buildSnapshot turns derived records into answer data. Records that do not
// convert are returned as errors beside the snapshot, which leaves them out.
func buildSnapshot(z domains.Zones, serial uint32, hash string) (*snapshot, []error) {
	s := &snapshot{serial: serial, hash: hash, zones: map[string]*zone{}, names: map[string]*node{}, unplaced: z.Unplaced}
	var errs []error
	for _, apex := range append([]string{z.Control}, z.Apexes...) {
		apex = strings.ToLower(apex)
		if _, ok := s.zones[apex]; ok {
			continue
		}
		zn := &zone{apex: apex}
		// RFC 1035 3.3.13: MNAME is the primary name server, RNAME the
		// responsible mailbox with its "@" written as a dot.
		zn.soa = &dns.SOA{
			Hdr:     dns.RR_Header{Name: apex, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: soaTTL},
			Ns:      z.NameServer,
			Mbox:    "hostmaster." + z.Control,
			Serial:  serial,
			Refresh: soaRefresh,
			Retry:   soaRetry,
			Expire:  soaExpire,
			Minttl:  soaMinimum,
		}
		zn.ns = []dns.RR{&dns.NS{Hdr: dns.RR_Header{Name: apex, Rrtype: dns.TypeNS, Class: dns.ClassINET, Ttl: soaTTL}, Ns: z.NameServer}}
		s.zones[apex] = zn
		s.add(zn.soa)
		s.add(zn.ns[0])
	}
	for _, r := range z.Records {
		if r.Placeholder {
			continue
		}
		rr, err := toRR(r)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		s.add(rr)
	}
	for _, n := range s.names {
		for t, set := range n.sets {
			n.sets[t] = dedupe(set)
		}
	}
	return s, errs
}

// add files rr under its name and makes the names between it and its zone
// apex exist.
func (s *snapshot) add(rr dns.RR) {
	name := strings.ToLower(rr.Header().Name)
	rr.Header().Name = name
	n := s.names[name]
	if n == nil {
		n = &node{sets: map[uint16][]dns.RR{}}
		s.names[name] = n
	}
	n.sets[rr.Header().Rrtype] = append(n.sets[rr.Header().Rrtype], rr)
	z := s.zoneOf(name)
	if z == nil {
		return
	}
	for p := name; p != z.apex; {
		i := strings.IndexByte(p, '.')
		if i < 0 || i == len(p)-1 {
			break
		}
		p = p[i+1:]
		if s.names[p] == nil {
			s.names[p] = &node{sets: map[uint16][]dns.RR{}}
		}
	}
}

// zoneOf finds the closest enclosing zone of a lower-case name, or nil.
func (s *snapshot) zoneOf(name string) *zone {
	for p := name; ; {
		if z := s.zones[p]; z != nil {
			return z
		}
		i := strings.IndexByte(p, '.')
		if i < 0 || i == len(p)-1 {
			return nil
		}
		p = p[i+1:]
	}
}

// toRR converts a derived record to wire form.
func toRR(r domains.Record) (dns.RR, error) {
	hdr := dns.RR_Header{Name: strings.ToLower(r.Name), Class: dns.ClassINET, Ttl: r.TTL}
	if r.Type == "TXT" {
		hdr.Rrtype = dns.TypeTXT
		// RFC 1035 3.3.14: a TXT record is one or more character-strings
		// of at most 255 octets; miekg escapes in presentation form, so
		// the text is given as is.
		return &dns.TXT{Hdr: hdr, Txt: escapeTXT(dkim.SplitTXT(r.Value))}, nil
	}
	rr, err := dns.NewRR(fmt.Sprintf("%s %d IN %s %s", hdr.Name, r.TTL, r.Type, r.Value))
	if err != nil {
		return nil, fmt.Errorf("dnsd: record %s %s %q: %w", r.Name, r.Type, r.Value, err)
	}
	if rr == nil || dns.TypeToString[rr.Header().Rrtype] != r.Type {
		return nil, fmt.Errorf("dnsd: record %s %s %q: not a %s record", r.Name, r.Type, r.Value, r.Type)
	}
	return rr, nil
}

// escapeTXT prepares raw text for miekg's TXT, which holds character-
// strings in presentation form (backslash and quote escaped).
func escapeTXT(parts []string) []string {
	out := make([]string, len(parts))
	for i, p := range parts {
		var b strings.Builder
		for j := 0; j < len(p); j++ {
			c := p[j]
			switch {
			case c == '"' || c == '\\':
				b.WriteByte('\\')
				b.WriteByte(c)
			case c < ' ' || c > '~':
				fmt.Fprintf(&b, "\\%03d", c)
			default:
				b.WriteByte(c)
			}
		}
		out[i] = b.String()
	}
	return out
}

func dedupe(set []dns.RR) []dns.RR {
	sort.SliceStable(set, func(i, j int) bool { return set[i].String() < set[j].String() })
	out := set[:0]
	for i, rr := range set {
		if i > 0 && dns.IsDuplicate(rr, set[i-1]) {
			continue
		}
		out = append(out, rr)
	}
	return out
}
