// Package tlsutil provides the TLS server configurations of every listener:
// a self-signed certificate for development and pinned installs, a
// certificate pair loaded from disk that is picked up again when it is
// renewed, and certificates obtained by ACME (RFC 8555) through
// golang.org/x/crypto/acme/autocert.
//
// It is not in charge of client-side TLS (outbound delivery verifies remote
// servers itself), nor of which listener uses which configuration.
package tlsutil

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"
)

// DefaultCheckInterval is how often, at most, Load looks at the files again.
const DefaultCheckInterval = time.Minute

// LoadOptions configures LoadWithOptions.
type LoadOptions struct {
	CertFile string // PEM certificate chain, leaf first
	KeyFile  string // PEM private key

	// CheckInterval is the least time between two looks at the files' mtimes;
	// zero means DefaultCheckInterval.
	CheckInterval time.Duration

	// Logger receives reload events and failed reloads; nil discards them.
	Logger *slog.Logger
}

// Load returns a server TLS configuration (TLS 1.2 at least) serving the
// certificate in certPath with the key in keyPath. It is LoadWithOptions with
// the default check interval and no logger.
func Load(certPath, keyPath string) (*tls.Config, error) {
	return LoadWithOptions(LoadOptions{CertFile: certPath, KeyFile: keyPath})
}

// LoadWithOptions returns a server TLS configuration serving the pair in
// opts. During handshakes, at most once per CheckInterval, it checks whether
// either file was replaced or modified and, if so, loads the pair again, so
// a renewed certificate needs no restart. A pair that fails to load (say, the
// certificate was replaced but not yet its key) is not used: the previous
// one is served and the files are checked again after the next interval.
func LoadWithOptions(opts LoadOptions) (*tls.Config, error) {
	return loadWithClock(opts, time.Now)
}

func loadWithClock(opts LoadOptions, now func() time.Time) (*tls.Config, error) {
	if opts.CertFile == "" || opts.KeyFile == "" {
		return nil, errors.New("tlsutil: load: certificate and key files are required")
	}
	if opts.CheckInterval <= 0 {
		opts.CheckInterval = DefaultCheckInterval
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	r := &reloader{opts: opts, now: now}
	if err := r.load(); err != nil {
		return nil, fmt.Errorf("tlsutil: load: %w", err)
	}
	r.checked = r.now()
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return r.certificate(), nil
		},
	}, nil
}

// reloader holds the current pair and what the files looked like when it was
// loaded.
type reloader struct {
	opts LoadOptions
	now  func() time.Time

	mu       sync.Mutex
	cert     *tls.Certificate
	certInfo os.FileInfo
	keyInfo  os.FileInfo
	checked  time.Time
}

func (r *reloader) certificate() *tls.Certificate {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	if now.Sub(r.checked) < r.opts.CheckInterval {
		return r.cert
	}
	r.checked = now
	if r.changed() {
		if err := r.load(); err != nil {
			r.opts.Logger.Warn("tls certificate reload failed; serving the previous one",
				"cert", r.opts.CertFile, "key", r.opts.KeyFile, "err", err)
		} else {
			var notAfter time.Time
			if r.cert.Leaf != nil { // nil only under GODEBUG=x509keypairleaf=0
				notAfter = r.cert.Leaf.NotAfter
			}
			r.opts.Logger.Info("tls certificate reloaded", "cert", r.opts.CertFile, "not_after", notAfter)
		}
	}
	return r.cert
}

// changed reports whether either file differs from when it was loaded. A
// rename over the file (as GenerateSelfSigned and most renewal tools do) is
// a new file even within the same mtime tick.
func (r *reloader) changed() bool {
	return fileChanged(r.opts.CertFile, r.certInfo) || fileChanged(r.opts.KeyFile, r.keyInfo)
}

func fileChanged(path string, old os.FileInfo) bool {
	fi, err := os.Stat(path)
	if err != nil {
		return true // let load report it
	}
	return !os.SameFile(fi, old) || !fi.ModTime().Equal(old.ModTime()) || fi.Size() != old.Size()
}

// load reads the pair. The file information is taken before reading, so a
// change made while reading is seen at the next check.
func (r *reloader) load() error {
	certInfo, err := os.Stat(r.opts.CertFile)
	if err != nil {
		return err
	}
	keyInfo, err := os.Stat(r.opts.KeyFile)
	if err != nil {
		return err
	}
	cert, err := tls.LoadX509KeyPair(r.opts.CertFile, r.opts.KeyFile)
	if err != nil {
		return err
	}
	r.cert, r.certInfo, r.keyInfo = &cert, certInfo, keyInfo
	return nil
}
