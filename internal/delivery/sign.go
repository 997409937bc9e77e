package delivery

import (
	"context"
	"crypto"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/cabalmail/cabalmail/internal/dkim"
	"github.com/cabalmail/cabalmail/internal/domains"
)

// signer DKIM-signs outgoing mail with the key of the signing domain's
// apex, at delivery time: a submission's 250 waits for the queue's fsync,
// not for an RSA signature, and a key replaced while mail is queued signs
// that mail too. Parsed keys are kept, keyed by their PEM text, so a key
// replaced in the store is picked up at once and an unchanged one is not
// parsed again.
type signer struct {
	domains *domains.Service
	now     func() time.Time

	mu      sync.Mutex
	keys    map[string]crypto.Signer
	signing map[string]cachedSigning // by signing domain
}

// cachedSigning is a signing domain's apex, selector and key as read from
// the store at a moment: a drain of many messages from one domain reads
// the store once a second, not once a message, and a replaced key signs
// within a second.
type cachedSigning struct {
	sd domains.Signing
	at time.Time
}

const signingTTL = time.Second

func newSigner(d *domains.Service, now func() time.Time) *signer {
	return &signer{domains: d, now: now, keys: map[string]crypto.Signer{}, signing: map[string]cachedSigning{}}
}

// signingDomain returns SigningDomain(signDomain), from the cache when it
// was read within signingTTL.
func (s *signer) signingDomain(ctx context.Context, signDomain string) (domains.Signing, error) {
	now := s.now()
	s.mu.Lock()
	c, ok := s.signing[signDomain]
	s.mu.Unlock()
	if ok && now.Sub(c.at) >= 0 && now.Sub(c.at) < signingTTL {
		return c.sd, nil
	}
	sd, err := s.domains.SigningDomain(ctx, signDomain)
	if err != nil {
		return sd, err
	}
	s.mu.Lock()
	if len(s.signing) > 1000 {
		clear(s.signing)
	}
	s.signing[signDomain] = cachedSigning{sd: sd, at: now}
	s.mu.Unlock()
	return sd, nil
}

// signature reads the message from r and returns its DKIM-Signature field:
// d= the signing domain, s= its apex's selector
// (internal/domains.SigningDomain).
func (s *signer) signature(ctx context.Context, r io.Reader, signDomain string) (string, error) {
	sd, err := s.signingDomain(ctx, signDomain)
	if err != nil {
		return "", fmt.Errorf("dkim signing domain for %s: %w", signDomain, err)
	}
	key, err := s.key(sd.KeyPEM)
	if err != nil {
		return "", fmt.Errorf("dkim key of %s: %w", signDomain, err)
	}
	return dkim.Signature(r, sd.Domain, sd.Selector, key)
}

func (s *signer) key(pemText string) (crypto.Signer, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if k, ok := s.keys[pemText]; ok {
		return k, nil
	}
	k, err := dkim.ParseKey(pemText)
	if err != nil {
		return nil, err
	}
	if len(s.keys) > 1000 { // apexes are few; bound it anyway
		clear(s.keys)
	}
	s.keys[pemText] = k
	return k, nil
}
