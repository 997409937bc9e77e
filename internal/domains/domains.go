// Package domains is in charge of the mail apexes an installation serves:
// adding one (with the DKIM key that signs its mail) and saying which DNS
// records make it work.
//
// The record set is derived from the store at the moment it is asked for:
// every subdomain with at least one active address gets MX, SPF, DKIM and
// DMARC records; a subdomain whose addresses are all suspended or revoked
// has none (DESIGN.md §4). The same derivation serves `cabalmail domain
// records` (for operators who keep their own DNS) and the authoritative DNS
// role.
//
// It does not validate address local parts or decide who may hold an
// address; that is internal/addresses.
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

// ErrInvalid marks a malformed apex.
var ErrInvalid = errors.New("domains: invalid apex")

// Options describe the installation the records point at.
type Options struct {
	ControlDomain string   // imap.<control>, smtp.<control>, smtp-in.<control> ...
	PublicIPs     []string // A/AAAA targets of the service host names
	Selector      string   // DKIM selector
}

// Service adds apexes and derives their records.
type Service struct {
	st   store.Store
	opts Options
}

// New returns a Service over st.
func New(st store.Store, opts Options) *Service {
	return &Service{st: st, opts: opts}
}

// ValidateApex checks that apex is a lower-case fully qualified domain name
// of LDH labels (RFC 1123 2.1) with at least two labels.
func ValidateApex(apex string) error {
	if apex == "" {
		return fmt.Errorf("%w: empty domain", ErrInvalid)
	}
	if len(apex) > 253-2 { // room for a subdomain label
		return fmt.Errorf("%w: %q is too long", ErrInvalid, apex)
	}
	labels := strings.Split(apex, ".")
	if len(labels) < 2 {
		return fmt.Errorf("%w: %q is not a fully qualified domain (want e.g. example.com)", ErrInvalid, apex)
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 {
			return fmt.Errorf("%w: %q has an empty or over-long label", ErrInvalid, apex)
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			ok := c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' && i > 0 && i < len(l)-1
			if !ok {
				return fmt.Errorf("%w: %q: label %q may hold only lower-case letters, digits and inner hyphens", ErrInvalid, apex, l)
			}
		}
	}
	if tld := labels[len(labels)-1]; tld[0] >= '0' && tld[0] <= '9' {
		return fmt.Errorf("%w: %q looks like an IP address", ErrInvalid, apex)
	}
	return nil
}

// Add configures a new apex with a fresh DKIM key. actor names who asked,
// for the audit log.
func (s *Service) Add(ctx context.Context, actor, apex string) (store.Domain, error) {
	if err := ValidateApex(apex); err != nil {
		return store.Domain{}, err
	}
	if err := s.checkOverlap(ctx, apex); err != nil {
		return store.Domain{}, err
	}
	key, err := dkim.GenerateKey()
	if err != nil {
		return store.Domain{}, fmt.Errorf("domains: add %s: %w", apex, err)
	}
	d := store.Domain{Apex: apex, DKIMSelector: s.opts.Selector, DKIMKeyPEM: key}
	if err := s.st.CreateDomain(ctx, &d); err != nil {
		if errors.Is(err, store.ErrExists) {
			return store.Domain{}, fmt.Errorf("domains: %s is already configured: %w", apex, err)
		}
		return store.Domain{}, fmt.Errorf("domains: add %s: %w", apex, err)
	}
	if err := s.st.AddAudit(ctx, &store.AuditEntry{Actor: actor, Action: "domain.add", Target: apex}); err != nil {
		return d, fmt.Errorf("domains: audit add %s: %w", apex, err)
	}
	return d, nil
}

// checkOverlap refuses an apex whose names are already in use: one that is
// the subdomain of a hosted address (sub.example.com while addresses live on
// sub of example.com), whose mail and DNS would then have two owners.
func (s *Service) checkOverlap(ctx context.Context, apex string) error {
	label, parent, ok := strings.Cut(apex, ".")
	if !ok {
		return nil
	}
	addrs, err := s.st.ListAddresses(ctx, store.AddressFilter{Apex: parent, Subdomain: label})
	if err != nil {
		return fmt.Errorf("domains: add %s: %w", apex, err)
	}
	if len(addrs) > 0 {
		return fmt.Errorf("%w: %s is already a mail subdomain of %s with %d address(es), e.g. %s", ErrInvalid, apex, parent, len(addrs), addrs[0].Address)
	}
	return nil
}

// Ensure adds apex unless it is already configured.
func (s *Service) Ensure(ctx context.Context, actor, apex string) (store.Domain, error) {
	d, err := s.st.DomainByApex(ctx, apex)
	if err == nil {
		return d, nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return store.Domain{}, fmt.Errorf("domains: %w", err)
	}
	return s.Add(ctx, actor, apex)
}

// Record is one DNS resource record.
type Record struct {
	Name    string // fully qualified, with the trailing dot
	Type    string // A, AAAA, MX, TXT, NS
	Value   string // presentation form; TXT values unquoted
	Comment string
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
	line := fmt.Sprintf("%-40s 3600 IN %-4s %s", r.Name, r.Type, v)
	if r.Comment != "" {
		line += " ; " + r.Comment
	}
	return line
}

// RecordSet is what an operator publishes for one apex.
type RecordSet struct {
	Apex string
	// Delegation is what to publish at the registrar when the apex is
	// served by our DNS role.
	Delegation []Record
	// Full is everything our DNS role would serve, for operators who keep
	// their own DNS.
	Full []Record
}

// Host names of the service under the control domain.
func (s *Service) nameServer() string { return "ns." + s.opts.ControlDomain + "." }

// MXHost is the MX target of every hosted subdomain.
func MXHost(control string) string { return "smtp-in." + control + "." }

// Records derives the record set of apex from the store.
func (s *Service) Records(ctx context.Context, apex string) (RecordSet, error) {
	d, err := s.st.DomainByApex(ctx, apex)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return RecordSet{}, fmt.Errorf("domains: %s is not configured (add it with \"cabalmail domain add\"): %w", apex, err)
		}
		return RecordSet{}, fmt.Errorf("domains: records %s: %w", apex, err)
	}
	dkimTXT, err := dkim.TXTRecord(d.DKIMKeyPEM)
	if err != nil {
		return RecordSet{}, fmt.Errorf("domains: dkim key of %s: %w", apex, err)
	}
	addrs, err := s.st.ListAddresses(ctx, store.AddressFilter{Apex: apex})
	if err != nil {
		return RecordSet{}, fmt.Errorf("domains: records %s: %w", apex, err)
	}
	rs := RecordSet{Apex: apex}
	ns := s.nameServer()
	rs.Delegation = append(rs.Delegation, Record{Name: apex + ".", Type: "NS", Value: ns, Comment: "delegate the apex to Cabalmail's DNS role"})
	rs.Delegation = append(rs.Delegation, s.addressRecords(ns, "glue / name server address")...)

	rs.Full = append(rs.Full, s.HostRecords()...)
	rs.Full = append(rs.Full, Record{Name: "_dmarc." + apex + ".", Type: "TXT", Value: dmarcPolicy})
	active := ActiveSubdomains(addrs)
	// mail-admin.<apex> always receives (postmaster and DMARC reports).
	subs := append([]string{"mail-admin"}, active...)
	for _, sub := range subs {
		rs.Full = append(rs.Full, s.SubdomainRecords(sub+"."+apex, d.DKIMSelector, dkimTXT)...)
	}
	return rs, nil
}

// dmarcPolicy is strict: all our mail is DKIM-signed with the sending
// subdomain's own key and sent from our own addresses.
const dmarcPolicy = "v=DMARC1; p=reject; sp=reject; adkim=s; aspf=s"

// HostRecords are the address records of the service host names.
func (s *Service) HostRecords() []Record {
	var out []Record
	c := s.opts.ControlDomain
	for _, h := range []string{c, "imap." + c, "smtp." + c, "smtp-in." + c, "ns." + c} {
		out = append(out, s.addressRecords(h+".", "")...)
	}
	return out
}

func (s *Service) addressRecords(name, comment string) []Record {
	if len(s.opts.PublicIPs) == 0 {
		return []Record{{Name: name, Type: "A", Value: "<public IPv4 address of this host>", Comment: comment}}
	}
	var out []Record
	for _, ip := range s.opts.PublicIPs {
		typ := "A"
		if p := net.ParseIP(ip); p != nil && p.To4() == nil {
			typ = "AAAA"
		}
		out = append(out, Record{Name: name, Type: typ, Value: ip, Comment: comment})
	}
	return out
}

// SubdomainRecords are the records of one mail subdomain (fqdn without the
// trailing dot).
func (s *Service) SubdomainRecords(fqdn, selector, dkimTXT string) []Record {
	return []Record{
		{Name: fqdn + ".", Type: "MX", Value: "10 " + MXHost(s.opts.ControlDomain)},
		{Name: fqdn + ".", Type: "TXT", Value: s.SPF()},
		{Name: selector + "._domainkey." + fqdn + ".", Type: "TXT", Value: dkimTXT},
		{Name: "_dmarc." + fqdn + ".", Type: "TXT", Value: dmarcPolicy},
	}
}

// SPF is the SPF policy of every hosted subdomain: only this installation
// sends for it.
func (s *Service) SPF() string {
	var b strings.Builder
	b.WriteString("v=spf1")
	if len(s.opts.PublicIPs) == 0 {
		b.WriteString(" a:smtp." + s.opts.ControlDomain)
	}
	for _, ip := range s.opts.PublicIPs {
		if p := net.ParseIP(ip); p != nil && p.To4() == nil {
			b.WriteString(" ip6:" + ip)
		} else {
			b.WriteString(" ip4:" + ip)
		}
	}
	b.WriteString(" -all")
	return b.String()
}

// ActiveSubdomains lists, sorted and without repeats, the subdomain labels
// that have at least one active address.
func ActiveSubdomains(addrs []store.Address) []string {
	seen := map[string]bool{}
	var out []string
	for _, a := range addrs {
		if a.State == store.AddressActive && !seen[a.Subdomain] {
			seen[a.Subdomain] = true
			out = append(out, a.Subdomain)
		}
	}
	sort.Strings(out)
	return out
}
