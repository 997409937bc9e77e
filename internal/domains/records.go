package domains

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sort"
	"strings"

	"github.com/cabalmail/cabalmail/internal/dkim"
	"github.com/cabalmail/cabalmail/internal/store"
)

// Time to live of the derived records, in seconds. Mail subdomains come and
// go with their addresses, so their records live briefly; the host names
// and keys of the service change rarely.
const (
	TTLService   = 3600
	TTLSubdomain = 300
)

// Record is one DNS resource record.
type Record struct {
	Name  string // fully qualified, lower-case, with the trailing dot
	Type  string // A, AAAA, CNAME, MX, NS, SRV, CAA, TXT
	Value string // presentation form; TXT values unquoted and unsplit
	TTL   uint32
	// Apex is the apex this record serves; empty for records every apex
	// relies on (the service host names, SPF and DMARC policy).
	Apex    string
	Comment string
	// Placeholder marks a record whose value the operator must fill in
	// (an address record when no public IP is configured); it is printed
	// but never served.
	Placeholder bool
}

// String renders r as a zone-file line.
func (r Record) String() string {
	v := r.Value
	if r.Type == "TXT" {
		var parts []string
		for _, p := range dkim.SplitTXT(v) {
			parts = append(parts, `"`+strings.ReplaceAll(strings.ReplaceAll(p, `\`, `\\`), `"`, `\"`)+`"`)
		}
		v = strings.Join(parts, " ")
	}
	line := fmt.Sprintf("%-40s %-5d IN %-5s %s", r.Name, r.TTL, r.Type, v)
	if r.Comment != "" {
		line += " ; " + r.Comment
	}
	return line
}

// Zones is the whole DNS data of an installation at one moment: the zones
// the DNS role is authoritative for and every record in them. SOA and NS
// records are not included; the server makes them (NameServer names the
// host of the NS records).
type Zones struct {
	Control    string   // the control domain's zone, fully qualified
	Apexes     []string // the apex zones, fully qualified, sorted
	NameServer string   // ns.<control>.
	// Records are sorted by name, then type, then value.
	Records []Record
	// Unplaced are static records whose name lies in none of the zones
	// (for example for an apex not yet added); they are not served.
	Unplaced []Record
}

// MXHost is the MX target of every hosted subdomain.
func MXHost(control string) string { return "smtp-in." + control + "." }

// NameServer is the host name of the DNS role.
func NameServer(control string) string { return "ns." + control + "." }

// KeyName is where the DKIM key of apex lives: <selector>.<apex>._domainkey.<control>.
// It is itself a valid DKIM key name (d=<control>, s=<selector>.<apex>, RFC
// 6376 3.1 allows dots in selectors), and each apex has its own.
func KeyName(selector, apex, control string) string {
	return selector + "." + apex + "._domainkey." + control + "."
}

// PolicyName is where the one DMARC policy lives: _dmarc.<control>.
func PolicyName(control string) string { return "_dmarc." + control + "." }

// ReportAddress is where aggregate DMARC reports go, given the apexes.
// It is empty when there is no apex.
func ReportAddress(control string, apexes []string) string {
	r := reportApex(control, apexes)
	if r == "" {
		return ""
	}
	return "dmarc-reports@mail-admin." + r
}

// reportApex is the apex holding the control domain, else the first apex
// by name.
func reportApex(control string, apexes []string) string {
	best := ""
	for _, a := range apexes {
		if (control == a || strings.HasSuffix(control, "."+a)) && len(a) > len(best) {
			best = a
		}
	}
	if best != "" {
		return best
	}
	sorted := append([]string(nil), apexes...)
	sort.Strings(sorted)
	if len(sorted) == 0 {
		return ""
	}
	return sorted[0]
}

// Zones derives the whole record set from the store.
func (s *Service) Zones(ctx context.Context) (Zones, error) {
	doms, err := s.st.ListDomains(ctx)
	if err != nil {
		return Zones{}, fmt.Errorf("domains: zones: %w", err)
	}
	addrs, err := s.st.ListAddresses(ctx, store.AddressFilter{})
	if err != nil {
		return Zones{}, fmt.Errorf("domains: zones: %w", err)
	}
	return Derive(s.opts, doms, addrs)
}

// RecordSet is what an operator publishes for one apex.
type RecordSet struct {
	Apex string
	// Delegation is what to publish at the registrar when the apex is
	// served by our DNS role.
	Delegation []Record
	// Full is everything our DNS role would serve for this apex (records of
	// the apex and the shared records under the control domain), for
	// operators who keep their own DNS.
	Full []Record
}

// Records derives the record set of apex from the store.
func (s *Service) Records(ctx context.Context, apex string) (RecordSet, error) {
	if _, err := s.st.DomainByApex(ctx, apex); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return RecordSet{}, fmt.Errorf("domains: %s is not configured (add it with \"cabalmail domain add\"): %w", apex, err)
		}
		return RecordSet{}, fmt.Errorf("domains: records %s: %w", apex, err)
	}
	z, err := s.Zones(ctx)
	if err != nil {
		return RecordSet{}, err
	}
	rs := RecordSet{Apex: apex}
	ns := z.NameServer
	rs.Delegation = append(rs.Delegation,
		Record{Name: apex + ".", Type: "NS", Value: ns, TTL: TTLService, Comment: "delegate the apex to Cabalmail's DNS role"},
		Record{Name: z.Control, Type: "NS", Value: ns, TTL: TTLService, Comment: "and the control domain"})
	rs.Delegation = append(rs.Delegation, addressRecords(s.opts.PublicIPs, ns, "", "glue / name server address")...)
	for _, r := range z.Records {
		if r.Apex == "" || r.Apex == apex {
			rs.Full = append(rs.Full, r)
		}
	}
	return rs, nil
}

// Derive computes the zones of an installation from its options, its
// configured apexes and its addresses. It reads nothing else, so the DNS
// role and the command line get the same answer from the same rows.
func Derive(opts Options, doms []store.Domain, addrs []store.Address) (Zones, error) {
	control := strings.TrimSuffix(strings.ToLower(opts.ControlDomain), ".")
	if control == "" {
		return Zones{}, fmt.Errorf("domains: derive: no control domain")
	}
	z := Zones{Control: control + ".", NameServer: NameServer(control)}
	var apexes []string
	for _, d := range doms {
		apexes = append(apexes, d.Apex)
		z.Apexes = append(z.Apexes, d.Apex+".")
	}
	sort.Strings(z.Apexes)
	report := reportApex(control, apexes)

	var recs []Record
	add := func(r Record) { recs = append(recs, r) }

	// The control domain: host names, sending policy, DMARC policy.
	for _, h := range []string{control, "imap." + control, "smtp." + control, "smtp-in." + control, "ns." + control} {
		recs = append(recs, addressRecords(opts.PublicIPs, h+".", "", "")...)
	}
	add(Record{Name: control + ".", Type: "TXT", Value: ServiceSPF(control, opts.PublicIPs), TTL: TTLService})
	policy := dmarcPolicy
	if report != "" {
		// RFC 7489 6.3: rua is a comma-separated list of URIs.
		policy += "; rua=mailto:" + ReportAddress(control, apexes)
	}
	add(Record{Name: PolicyName(control), Type: "TXT", Value: policy, TTL: TTLService})

	active := map[string][]string{}
	for _, a := range addrs {
		if a.State == store.AddressActive {
			active[a.Apex] = append(active[a.Apex], a.Subdomain)
		}
	}
	for _, d := range doms {
		apex := d.Apex
		key, err := dkim.TXTRecord(d.DKIMKeyPEM)
		if err != nil {
			return Zones{}, fmt.Errorf("domains: dkim key of %s: %w", apex, err)
		}
		add(Record{Name: KeyName(d.DKIMSelector, apex, control), Type: "TXT", Value: key, TTL: TTLService, Apex: apex})
		if apex != control {
			add(Record{Name: "_dmarc." + apex + ".", Type: "CNAME", Value: PolicyName(control), TTL: TTLService, Apex: apex})
		}
		// mail-admin.<apex> always receives (postmaster and DMARC reports).
		for _, sub := range uniqueSorted(append(active[apex], "mail-admin")) {
			n := sub + "." + apex + "."
			recs = append(recs, subdomainRecords(n, apex, d.DKIMSelector, control)...)
			if report != "" && apex != report {
				// RFC 7489 7.1: the report domain authorizes reports
				// about a policy domain of another organization.
				add(Record{Name: sub + "." + apex + "._report._dmarc.mail-admin." + report + ".", Type: "TXT", Value: "v=DMARC1", TTL: TTLSubdomain, Apex: apex})
			}
		}
	}

	recs = applyStatic(recs, opts.Static)
	zoneOf := func(name string) string { return zoneFor(name, z.Control, z.Apexes) }
	for _, r := range recs {
		if zoneOf(r.Name) == "" {
			z.Unplaced = append(z.Unplaced, r)
			continue
		}
		z.Records = append(z.Records, r)
	}
	sortRecords(z.Records)
	return z, nil
}

// dmarcPolicy is strict: all our mail is DKIM-signed with the sending
// subdomain as d= and sent from our own addresses.
const dmarcPolicy = "v=DMARC1; p=reject; sp=reject; adkim=s; aspf=s"

// subdomainRecords are the records of one mail subdomain n (fully
// qualified, with the trailing dot).
func subdomainRecords(n, apex, selector, control string) []Record {
	return []Record{
		{Name: n, Type: "MX", Value: "10 " + MXHost(control), TTL: TTLSubdomain, Apex: apex},
		{Name: n, Type: "TXT", Value: "v=spf1 include:" + control + " ~all", TTL: TTLSubdomain, Apex: apex},
		{Name: selector + "._domainkey." + n, Type: "CNAME", Value: KeyName(selector, apex, control), TTL: TTLSubdomain, Apex: apex},
		{Name: "_dmarc." + n, Type: "CNAME", Value: PolicyName(control), TTL: TTLSubdomain, Apex: apex},
	}
}

// ServiceSPF is the SPF policy of the control domain, which every hosted
// subdomain includes: only this installation's public addresses send.
func ServiceSPF(control string, publicIPs []string) string {
	var b strings.Builder
	b.WriteString("v=spf1")
	if len(publicIPs) == 0 {
		b.WriteString(" a:smtp." + control)
	}
	for _, ip := range publicIPs {
		if p := net.ParseIP(ip); p != nil && p.To4() == nil {
			b.WriteString(" ip6:" + ip)
		} else {
			b.WriteString(" ip4:" + ip)
		}
	}
	b.WriteString(" -all")
	return b.String()
}

func addressRecords(ips []string, name, apex, comment string) []Record {
	if len(ips) == 0 {
		return []Record{{Name: name, Type: "A", Value: "<public IPv4 address of this host>", TTL: TTLService, Apex: apex, Comment: comment, Placeholder: true}}
	}
	var out []Record
	for _, ip := range ips {
		typ := "A"
		if p := net.ParseIP(ip); p != nil && p.To4() == nil {
			typ = "AAAA"
		}
		out = append(out, Record{Name: name, Type: typ, Value: ip, TTL: TTLService, Apex: apex, Comment: comment})
	}
	return out
}

// applyStatic lets operator records replace derived ones: same name and
// type, or every record of the name for a CNAME (RFC 1034 3.6.2: a CNAME
// stands alone), or a derived CNAME when the operator puts data there.
func applyStatic(derived, static []Record) []Record {
	if len(static) == 0 {
		return derived
	}
	type key struct{ name, typ string }
	replaced := map[key]bool{}
	cname := map[string]bool{}
	data := map[string]bool{}
	for _, r := range static {
		replaced[key{r.Name, r.Type}] = true
		if r.Type == "CNAME" {
			cname[r.Name] = true
		} else {
			data[r.Name] = true
		}
	}
	var out []Record
	for _, r := range derived {
		if replaced[key{r.Name, r.Type}] || cname[r.Name] || r.Type == "CNAME" && data[r.Name] {
			continue
		}
		out = append(out, r)
	}
	for _, r := range static {
		r.Comment = "static record from the configuration"
		out = append(out, r)
	}
	return out
}

// zoneFor returns the closest enclosing zone of name among ours, or "".
func zoneFor(name, control string, apexes []string) string {
	best := ""
	for _, z := range append([]string{control}, apexes...) {
		if (name == z || strings.HasSuffix(name, "."+z)) && len(z) > len(best) {
			best = z
		}
	}
	return best
}

func sortRecords(recs []Record) {
	sort.SliceStable(recs, func(i, j int) bool {
		a, b := recs[i], recs[j]
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		if a.Type != b.Type {
			return a.Type < b.Type
		}
		return a.Value < b.Value
	})
}

func uniqueSorted(in []string) []string {
	sort.Strings(in)
	var out []string
	for i, s := range in {
		if i == 0 || s != in[i-1] {
			out = append(out, s)
		}
	}
	return out
}

// ActiveSubdomains lists, sorted and without repeats, the subdomain labels
// that have at least one active address.
func ActiveSubdomains(addrs []store.Address) []string {
	var out []string
	for _, a := range addrs {
		if a.State == store.AddressActive {
			out = append(out, a.Subdomain)
		}
	}
	return uniqueSorted(out)
}
