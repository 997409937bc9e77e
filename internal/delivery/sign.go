package delivery

import (
	"context"
	"crypto"
	"fmt"
	"io"
	"sync"

	"github.com/cabalmail/cabalmail/internal/dkim"
	"github.com/cabalmail/cabalmail/internal/domains"
)

// signer DKIM-signs outgoing mail with the key of the signing domain's
// apex, at delivery time: a submission's 250 waits for the queue's fsync,
// not for an RSA signature, and a key replaced while mail is queued signs
// that mail too (domains.Service reads a key from the store at most once a
// second). Parsed keys are kept, keyed by their PEM text, so an
// unchanged key is not parsed again.
type signer struct {
	domains *domains.Service

	mu   sync.Mutex
	keys map[string]crypto.Signer
}

func newSigner(d *domains.Service) *signer {
	return &signer{domains: d, keys: map[string]crypto.Signer{}}
}

// signature reads the message from r and returns its DKIM-Signature field:
// d= the signing domain, s= its apex's selector
// (internal/domains.SigningDomain).
func (s *signer) signature(ctx context.Context, r io.Reader, signDomain string) (string, error) {
	sd, err := s.domains.SigningDomain(ctx, signDomain)
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
