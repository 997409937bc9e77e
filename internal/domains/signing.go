package domains

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cabalmail/cabalmail/internal/store"
)

// Signing says how to DKIM-sign mail from one hosted domain.
type Signing struct {
	Domain   string // d= tag: the From domain itself, sub.apex
	Selector string // s= tag: the selector stored with the apex
	KeyPEM   string // the apex's private key (PKCS#8 PEM)
}

// SigningDomain returns how to sign mail whose From domain is fromDomain
// (sub.apex, any case, with or without a trailing dot): d=sub.apex, so
// that DMARC's strict DKIM alignment holds (RFC 7489 3.1.1), with the
// selector and key of the apex. The public key is found by verifiers at
// <selector>._domainkey.<sub>.<apex>, a CNAME to the apex's key record
// under the control domain (see KeyName). ErrNotFound (wrapped) if the
// domain is not a subdomain of a configured apex.
func (s *Service) SigningDomain(ctx context.Context, fromDomain string) (Signing, error) {
	d := strings.TrimSuffix(strings.ToLower(fromDomain), ".")
	_, apex, ok := strings.Cut(d, ".")
	if !ok || apex == "" {
		return Signing{}, fmt.Errorf("domains: signing domain %q: not a subdomain of an apex: %w", fromDomain, store.ErrNotFound)
	}
	dom, err := s.apexKey(ctx, apex)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return Signing{}, fmt.Errorf("domains: signing domain %q: apex %s is not configured: %w", fromDomain, apex, err)
		}
		return Signing{}, fmt.Errorf("domains: signing domain %q: %w", fromDomain, err)
	}
	return Signing{Domain: d, Selector: dom.selector, KeyPEM: dom.keyPEM}, nil
}

// keyTTL is how long an apex's selector and key are reused without asking
// the store again: every submitted and every delivered message asks, and
// a key replaced or an apex removed shows within a second.
const keyTTL = time.Second

type apexKey struct {
	selector, keyPEM string
	at               time.Time
}

// apexKey returns the apex's DKIM selector and key, from the cache when
// read within keyTTL. Failures are not cached.
func (s *Service) apexKey(ctx context.Context, apex string) (apexKey, error) {
	now := time.Now()
	s.keyMu.Lock()
	k, ok := s.keys[apex]
	s.keyMu.Unlock()
	if ok && now.Sub(k.at) >= 0 && now.Sub(k.at) < keyTTL {
		return k, nil
	}
	dom, err := s.st.DomainByApex(ctx, apex)
	if err != nil {
		return apexKey{}, err
	}
	k = apexKey{selector: dom.DKIMSelector, keyPEM: dom.DKIMKeyPEM, at: now}
	s.keyMu.Lock()
	if s.keys == nil || len(s.keys) > 1000 {
		s.keys = map[string]apexKey{}
	}
	s.keys[apex] = k
	s.keyMu.Unlock()
	return k, nil
}
