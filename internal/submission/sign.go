package submission

import (
	"bytes"
	"context"
	"crypto"
	"fmt"
	"io"
	"sync"

	"github.com/cabalmail/cabalmail/internal/dkim"
	"github.com/cabalmail/cabalmail/internal/domains"
)

// signer DKIM-signs submitted mail with the key of the From domain's apex.
// Parsed keys are kept, keyed by their PEM text, so a key replaced in the
// store is picked up at once and an unchanged one is not parsed again.
type signer struct {
	domains *domains.Service

	mu   sync.Mutex
	keys map[string]crypto.Signer
}

func newSigner(d *domains.Service) *signer {
	return &signer{domains: d, keys: map[string]crypto.Signer{}}
}

// sign writes msg to w with a DKIM-Signature in front: d= the From domain,
// s= the apex's selector (internal/domains.SigningDomain).
func (s *signer) sign(ctx context.Context, w io.Writer, msg []byte, fromDomain string) error {
	sd, err := s.domains.SigningDomain(ctx, fromDomain)
	if err != nil {
		return fmt.Errorf("dkim signing domain for %s: %w", fromDomain, err)
	}
	key, err := s.key(sd.KeyPEM)
	if err != nil {
		return fmt.Errorf("dkim key of %s: %w", fromDomain, err)
	}
	return dkim.Sign(w, bytes.NewReader(msg), sd.Domain, sd.Selector, key)
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
