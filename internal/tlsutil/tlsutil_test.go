package tlsutil

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

var testHosts = []string{"mail.example.test", "127.0.0.1", "::1"}

func generate(t *testing.T, dir string) (certPath, keyPath string) {
	t.Helper()
	certPath, keyPath = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := GenerateSelfSigned(certPath, keyPath, testHosts, 24*time.Hour); err != nil {
		t.Fatal(err)
	}
	return certPath, keyPath
}

func readCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE" {
		t.Fatalf("%s holds no CERTIFICATE block", path)
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestGenerateSelfSigned(t *testing.T) {
	dir := t.TempDir()
	certPath, keyPath := generate(t, dir)
	c := readCert(t, certPath)
	if !c.IsCA || !c.BasicConstraintsValid {
		t.Error("certificate is not its own CA")
	}
	if c.KeyUsage != x509.KeyUsageCertSign|x509.KeyUsageDigitalSignature {
		t.Errorf("key usage %v", c.KeyUsage)
	}
	if !slices.Equal(c.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}) {
		t.Errorf("ext key usage %v", c.ExtKeyUsage)
	}
	if !slices.Equal(c.DNSNames, []string{"mail.example.test"}) || len(c.IPAddresses) != 2 {
		t.Errorf("SANs: DNS %v, IP %v", c.DNSNames, c.IPAddresses)
	}
	if c.PublicKeyAlgorithm != x509.ECDSA {
		t.Errorf("public key algorithm %v, want ECDSA", c.PublicKeyAlgorithm)
	}
	if d := time.Until(c.NotAfter); d < 23*time.Hour || d > 25*time.Hour {
		t.Errorf("expires in %v, want about 24h", d)
	}
	if err := c.CheckSignatureFrom(c); err != nil {
		t.Errorf("not self-signed: %v", err)
	}
	fi, err := os.Stat(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", fi.Mode().Perm())
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 {
		t.Errorf("directory holds %d entries, want cert and key only (no temp files left)", len(entries))
	}
}

func TestGenerateSelfSignedErrors(t *testing.T) {
	dir := t.TempDir()
	c, k := filepath.Join(dir, "c"), filepath.Join(dir, "k")
	for _, tc := range []struct {
		name  string
		c, k  string
		hosts []string
		valid time.Duration
		want  string
	}{
		{"no hosts", c, k, nil, time.Hour, "no host names"},
		{"empty host", c, k, []string{""}, time.Hour, "neither"},
		{"url", c, k, []string{"https://x.test"}, time.Hour, "neither"},
		{"zero validity", c, k, testHosts, 0, "not positive"},
		{"no path", "", k, testHosts, time.Hour, "paths are required"},
		{"missing dir", filepath.Join(dir, "nope", "c"), k, testHosts, time.Hour, "no such file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := GenerateSelfSigned(tc.c, tc.k, tc.hosts, tc.valid)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want error containing %q", err, tc.want)
			}
		})
	}
}

// serve runs a TLS server on 127.0.0.1 that writes "hello" to each client.
func serve(t *testing.T, cfg *tls.Config) string {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer func() { _ = conn.Close() }()
				_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
				_, _ = conn.Write([]byte("hello"))
			}()
		}
	}()
	return ln.Addr().String()
}

// dial connects trusting only the certificate in certPath as a root, and
// returns the certificate the server presented.
func dial(t *testing.T, addr, serverName string, root *x509.Certificate) (*x509.Certificate, error) {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AddCert(root)
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr,
		&tls.Config{RootCAs: pool, ServerName: serverName, MinVersion: tls.VersionTLS12})
	if err != nil {
		return nil, err
	}
	defer func() { _ = conn.Close() }()
	got, err := io.ReadAll(conn)
	if err != nil {
		return nil, err
	}
	if string(got) != "hello" {
		t.Errorf("read %q", got)
	}
	return conn.ConnectionState().PeerCertificates[0], nil
}

func TestLoadHandshake(t *testing.T) {
	certPath, keyPath := generate(t, t.TempDir())
	cfg, err := Load(certPath, keyPath)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MinVersion != tls.VersionTLS12 {
		t.Errorf("MinVersion %x", cfg.MinVersion)
	}
	root := readCert(t, certPath)
	addr := serve(t, cfg)
	for _, name := range []string{"mail.example.test", "127.0.0.1", "::1"} {
		got, err := dial(t, addr, name, root)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if !got.Equal(root) {
			t.Errorf("%s: server presented another certificate", name)
		}
	}
	if _, err := dial(t, addr, "other.example.test", root); err == nil {
		t.Error("handshake for a name the certificate lacks succeeded")
	}

	// A client offering only TLS 1.1 is refused.
	conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS11})
	if err == nil {
		_ = conn.Close()
		t.Error("TLS 1.1 handshake succeeded")
	}
}

func TestLoadReloads(t *testing.T) {
	dir := t.TempDir()
	certPath, keyPath := generate(t, dir)
	first := readCert(t, certPath)

	// Drive the reloader's clock rather than waiting minutes.
	var clock atomic.Int64
	clock.Store(time.Now().UnixNano())
	advance := func(d time.Duration) { clock.Add(int64(d)) }
	cfg, err := loadWithClock(LoadOptions{CertFile: certPath, KeyFile: keyPath},
		func() time.Time { return time.Unix(0, clock.Load()) })
	if err != nil {
		t.Fatal(err)
	}
	addr := serve(t, cfg)

	if err := GenerateSelfSigned(certPath, keyPath, testHosts, time.Hour); err != nil {
		t.Fatal(err)
	}
	second := readCert(t, certPath)

	// Within the interval, the old certificate is still served.
	advance(30 * time.Second)
	if got, err := dial(t, addr, "mail.example.test", first); err != nil || !got.Equal(first) {
		t.Fatalf("before the interval: got new cert or error %v", err)
	}
	advance(31 * time.Second)
	got, err := dial(t, addr, "mail.example.test", second)
	if err != nil {
		t.Fatalf("after the interval: %v", err)
	}
	if !got.Equal(second) {
		t.Error("after the interval: renewed certificate not served")
	}

	// A broken replacement is not used; the previous pair goes on serving.
	if err := os.WriteFile(keyPath, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	advance(2 * time.Minute)
	if got, err := dial(t, addr, "mail.example.test", second); err != nil || !got.Equal(second) {
		t.Fatalf("after a broken key: %v", err)
	}
	// Once the pair is whole again it is picked up.
	if err := GenerateSelfSigned(certPath, keyPath, testHosts, time.Hour); err != nil {
		t.Fatal(err)
	}
	third := readCert(t, certPath)
	advance(2 * time.Minute)
	if got, err := dial(t, addr, "mail.example.test", third); err != nil || !got.Equal(third) {
		t.Fatalf("after repair: %v", err)
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	certPath, keyPath := generate(t, dir)
	other := t.TempDir()
	_, otherKey := generate(t, other)
	garbage := filepath.Join(dir, "garbage")
	if err := os.WriteFile(garbage, []byte("junk"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, c, k, want string }{
		{"missing cert", filepath.Join(dir, "nope"), keyPath, "no such file"},
		{"missing key", certPath, filepath.Join(dir, "nope"), "no such file"},
		{"mismatched key", certPath, otherKey, "does not match"},
		{"garbage cert", garbage, keyPath, "failed to find"},
		{"empty paths", "", "", "required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(tc.c, tc.k)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want error containing %q", err, tc.want)
			}
		})
	}
}
