// Package domains is in charge of the mail apexes an installation serves:
// adding one (with the DKIM key that signs its mail) and deriving the DNS
// records that make it work.
//
// The record set is derived from the store at the moment it is asked for
// (Derive, Service.Zones, Service.Records). One derivation serves both
// `cabalmail domain records` (for operators who keep their own DNS) and the
// authoritative DNS role (internal/dnsd), so the two never disagree.
//
// # Record layout
//
// With control domain C (say mail.example.com), selector s (say "cabal") and
// an apex A (say example.com):
//
//   - C, imap.C, smtp.C, smtp-in.C and ns.C have A/AAAA records of the
//     public IPs.
//   - C has the SPF policy of every sending host: "v=spf1 ip4:... -all".
//   - s.A._domainkey.C holds the public DKIM key of apex A (one TXT record
//     per apex, all under the control domain).
//   - _dmarc.C holds the one DMARC policy: p=reject, strict alignment, with
//     aggregate reports to dmarc-reports@mail-admin.R, where R is the apex
//     that holds the control domain (else the first apex by name).
//   - _dmarc.A is a CNAME to _dmarc.C, so forged mail from a withdrawn
//     subdomain meets the same policy (sp=reject).
//   - Every mail subdomain N = sub.A with at least one active address, and
//     mail-admin.A always, has: MX 10 smtp-in.C; TXT "v=spf1 include:C ~all";
//     s._domainkey.N CNAME s.A._domainkey.C; _dmarc.N CNAME _dmarc.C. When A
//     is not R, N._report._dmarc.mail-admin.R has TXT "v=DMARC1", the
//     external report authorization of RFC 7489 7.1.
//
// A subdomain whose addresses are all suspended or revoked has no record at
// all: it does not exist (DESIGN.md §4).
//
// # Signing
//
// Mail from x@N is signed with d=N (the From domain itself, so strict DKIM
// alignment holds) and s=s, the selector stored with apex A. A verifier
// then looks up s._domainkey.N, follows the CNAME and finds the key of A
// under the control domain. SigningDomain gives the pair for a From domain.
//
// It does not validate address local parts or decide who may hold an
// address; that is internal/addresses.
package domains

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/cabalmail/cabalmail/internal/dkim"
	"github.com/cabalmail/cabalmail/internal/store"
)

// ErrInvalid marks a malformed apex.
var ErrInvalid = errors.New("domains: invalid apex")

// Options describe the installation the records point at.
type Options struct {
	ControlDomain string   // imap.<control>, smtp.<control>, smtp-in.<control> ...
	PublicIPs     []string // A/AAAA targets of the service host names
	Selector      string   // DKIM selector of newly added apexes; "" = DefaultSelector
	// Static are operator-defined records ([[dns.record]] in the
	// configuration). A static record replaces the derived records of the
	// same name and type; a static CNAME replaces every derived record of
	// its name.
	Static []Record
}

// Service adds apexes and derives their records.
type Service struct {
	st   store.Store
	opts Options

	keyMu sync.Mutex
	keys  map[string]apexKey // by apex, see apexKey
}

// DefaultSelector is the DKIM selector of new apexes when none is
// configured.
const DefaultSelector = "cabal"

// New returns a Service over st.
func New(st store.Store, opts Options) *Service {
	if opts.Selector == "" {
		opts.Selector = DefaultSelector
	}
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
