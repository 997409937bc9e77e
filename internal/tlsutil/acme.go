package tlsutil

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"os"
	"time"

	"golang.org/x/crypto/acme"
	"golang.org/x/crypto/acme/autocert"
	"golang.org/x/net/idna"
)

// ACMEOptions configures ACME.
type ACMEOptions struct {
	// CacheDir keeps the account key and the certificates across restarts,
	// so the CA's rate limits are not hit. Required; created 0700 if missing.
	CacheDir string

	// Hosts are the only names a certificate is requested for. Any other
	// name in a TLS ClientHello or a challenge request is refused, so a
	// client cannot make us ask the CA for names that are not ours.
	Hosts []string

	// Email is the CA's contact for expiry and revocation notices. Optional.
	Email string

	// DirectoryURL is the CA's ACME directory; empty means Let's Encrypt.
	DirectoryURL string

	// RenewBefore is how long before expiry a certificate is renewed; zero
	// leaves autocert's default (30 days, or a third of the lifetime).
	RenewBefore time.Duration

	// HTTPFallback serves plain-HTTP requests that are not ACME challenges;
	// nil redirects them to HTTPS.
	HTTPFallback http.Handler
}

// ACME returns a server TLS configuration whose certificates are obtained
// and renewed from an ACME CA, and the handler that answers HTTP-01
// challenges (to be served on port 80). Configuring ACME means accepting the
// CA's terms of service.
//
// The configuration offers the ALPN protocols h2, http/1.1 and acme-tls/1
// (RFC 8737 tls-alpn-01). A mail listener whose clients may offer their own
// ALPN protocol should use a Clone with NextProtos set to its own.
func ACME(opts ACMEOptions) (*tls.Config, http.Handler, error) {
	if opts.CacheDir == "" {
		return nil, nil, errors.New("tlsutil: acme: cache directory is required")
	}
	if len(opts.Hosts) == 0 {
		return nil, nil, errors.New("tlsutil: acme: no host names given")
	}
	for _, h := range opts.Hosts {
		// autocert.HostWhitelist drops names it cannot convert; refuse them
		// here instead, so a typo is not silently left out.
		if _, err := idna.Lookup.ToASCII(h); err != nil || h == "" {
			return nil, nil, fmt.Errorf("tlsutil: acme: invalid host name %q", h)
		}
	}
	if err := os.MkdirAll(opts.CacheDir, 0o700); err != nil {
		return nil, nil, fmt.Errorf("tlsutil: acme: cache directory: %w", err)
	}
	m := &autocert.Manager{
		Prompt:      autocert.AcceptTOS,
		Cache:       autocert.DirCache(opts.CacheDir),
		HostPolicy:  autocert.HostWhitelist(opts.Hosts...),
		RenewBefore: opts.RenewBefore,
		Email:       opts.Email,
	}
	if opts.DirectoryURL != "" {
		m.Client = &acme.Client{DirectoryURL: opts.DirectoryURL}
	}
	cfg := m.TLSConfig()
	cfg.MinVersion = tls.VersionTLS12
	return cfg, m.HTTPHandler(opts.HTTPFallback), nil
}
