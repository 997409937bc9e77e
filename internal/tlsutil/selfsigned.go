package tlsutil

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// backdate is how far before now a generated certificate becomes valid, so a
// client whose clock is a little behind still accepts it.
const backdate = time.Hour

// GenerateSelfSigned writes a new self-signed ECDSA P-256 certificate and its
// key, for `cabalmail dev` and for installs that pin their own certificate.
// The certificate names every host given (DNS names and IP addresses alike)
// and is its own CA, so a client can trust it as a root and still check the
// host name.
//
// Each file is written atomically: a temporary file in the same directory,
// fsynced, renamed over the target, and the directory fsynced. A server
// running Load on the same paths therefore never reads half a file. The key
// file is mode 0600; the certificate 0644. The key is written first, so a
// reader that sees the new certificate also finds its key.
func GenerateSelfSigned(certPath, keyPath string, hosts []string, validFor time.Duration) error {
	if len(hosts) == 0 {
		return errors.New("tlsutil: self-signed: no host names given")
	}
	if validFor <= 0 {
		return fmt.Errorf("tlsutil: self-signed: validity %v is not positive", validFor)
	}
	if certPath == "" || keyPath == "" {
		return errors.New("tlsutil: self-signed: certificate and key paths are required")
	}
	var dnsNames []string
	var ips []net.IP
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			ips = append(ips, ip)
			continue
		}
		if h == "" || strings.ContainsAny(h, " \t\r\n/:") {
			return fmt.Errorf("tlsutil: self-signed: %q is neither a host name nor an IP address", h)
		}
		dnsNames = append(dnsNames, strings.ToLower(strings.TrimSuffix(h, ".")))
	}

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("tlsutil: self-signed: generate key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return fmt.Errorf("tlsutil: self-signed: serial number: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: hosts[0], Organization: []string{"Cabalmail self-signed"}},
		NotBefore:    now.Add(-backdate),
		NotAfter:     now.Add(validFor),
		// RFC 5280 4.2.1.9: a certificate that signs (itself) is a CA.
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:              dnsNames,
		IPAddresses:           ips,
	}
	certDER, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return fmt.Errorf("tlsutil: self-signed: create certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("tlsutil: self-signed: marshal key: %w", err)
	}

	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	if err := writeFileAtomic(keyPath, keyPEM, 0o600); err != nil {
		return fmt.Errorf("tlsutil: self-signed: %w", err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: certDER})
	if err := writeFileAtomic(certPath, certPEM, 0o644); err != nil {
		return fmt.Errorf("tlsutil: self-signed: %w", err)
	}
	return nil
}

// writeFileAtomic replaces path with data so that readers see either the old
// file or the whole new one, and the new one survives a crash once this
// returns.
func writeFileAtomic(path string, data []byte, perm os.FileMode) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(tmp)
		}
	}()
	// CreateTemp makes the file 0600, so a key is never readable by others,
	// not even for a moment.
	if err = f.Chmod(perm); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err = f.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("write %s: fsync: %w", path, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return syncDir(dir)
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("fsync directory %s: %w", dir, err)
	}
	if err := d.Sync(); err != nil {
		_ = d.Close()
		return fmt.Errorf("fsync directory %s: %w", dir, err)
	}
	return d.Close()
}
