package addresses

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/cabalmail/cabalmail/internal/store"
)

// Options configures a Service. The zero value works, with no control domain.
type Options struct {
	// ControlDomain is the host name under which the product publishes its
	// own services (for example mail.example.test). Labels that would
	// collide with it are reserved.
	ControlDomain string
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
	// Rand is the source of random addresses; nil means crypto/rand.Reader.
	Rand io.Reader
}

// Service applies the address rules on top of a store. It is safe for
// concurrent use.
type Service struct {
	st      store.Store
	control string
	now     func() time.Time
	rand    io.Reader

	apexMu   sync.Mutex
	apexList []string  // canonical; the last list read, for Recipient
	apexAt   time.Time // when apexList was read (by the clock time.Now)
}

// New returns a Service over st.
func New(st store.Store, opts Options) *Service {
	s := &Service{st: st, control: canonicalDomain(opts.ControlDomain), now: opts.Now, rand: opts.Rand}
	if s.now == nil {
		s.now = time.Now
	}
	if s.rand == nil {
		s.rand = rand.Reader
	}
	return s
}

// Actor is who asks. The command line acts as the Operator; the web app and
// the API pass the logged-in user, with Admin taken from the stored user.
type Actor struct {
	UserID   int64
	Name     string
	Admin    bool
	Operator bool
}

// Operator is the actor of the command line: it may act on every address
// and every configured apex.
func Operator() Actor {
	return Actor{Name: "operator", Operator: true}
}

// privileged reports whether a may act on any address (admin or operator).
func (a Actor) privileged() bool { return a.Admin || a.Operator }

// holds reports whether a holds addr.
func (a Actor) holds(addr store.Address) bool {
	if a.Operator || a.UserID == 0 {
		return false
	}
	for _, h := range addr.Holders {
		if h.UserID == a.UserID {
			return true
		}
	}
	return false
}

// apexes returns the configured apexes in canonical form.
func (s *Service) apexes(ctx context.Context) ([]string, error) {
	ds, err := s.st.ListDomains(ctx)
	if err != nil {
		return nil, fmt.Errorf("addresses: list domains: %w", err)
	}
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = canonicalDomain(d.Apex)
	}
	return out, nil
}

// apexTTL is how long Recipient reuses the list of apexes. A recipient
// that does not parse against the cached list is tried again against a
// fresh one, so a new apex is never missed; a removed one may still be
// taken as hosted for this long, and its addresses are refused anyway
// once revoked.
const apexTTL = time.Second

// cachedApexes returns the apexes as read at most apexTTL ago, and whether
// they came from the cache.
func (s *Service) cachedApexes(ctx context.Context) ([]string, bool, error) {
	s.apexMu.Lock()
	list, at := s.apexList, s.apexAt
	s.apexMu.Unlock()
	if list != nil && time.Since(at) < apexTTL {
		return list, true, nil
	}
	return s.freshApexes(ctx)
}

// freshApexes reads the apexes and caches them for cachedApexes.
func (s *Service) freshApexes(ctx context.Context) ([]string, bool, error) {
	at := time.Now()
	list, err := s.apexes(ctx)
	if err != nil {
		return nil, false, err
	}
	s.apexMu.Lock()
	if at.After(s.apexAt) {
		s.apexList, s.apexAt = list, at
	}
	s.apexMu.Unlock()
	return list, false, nil
}

// Parse checks addr against every syntax rule and splits it at the
// configured apex that leaves exactly one subdomain label. It does not check
// reserved labels or whether the address exists.
func (s *Service) Parse(ctx context.Context, addr string) (Parsed, error) {
	apexes, err := s.apexes(ctx)
	if err != nil {
		return Parsed{}, err
	}
	return parse(addr, apexes)
}
