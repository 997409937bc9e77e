package tlsutil

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The tests never reach a CA: unknown names are refused before any request,
// and the directory URL points at a closed loopback port in case one is made.
const unreachableCA = "http://127.0.0.1:1/directory"

func TestACMEConfig(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "acme")
	cfg, handler, err := ACME(ACMEOptions{
		CacheDir:     dir,
		Hosts:        []string{"mail.example.test", "imap.example.test"},
		Email:        "postmaster@example.test",
		DirectoryURL: unreachableCA,
	})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MinVersion != tls.VersionTLS12 || cfg.GetCertificate == nil {
		t.Errorf("config: MinVersion %x, GetCertificate set %v", cfg.MinVersion, cfg.GetCertificate != nil)
	}
	if !slices.Contains(cfg.NextProtos, "acme-tls/1") {
		t.Errorf("NextProtos %v lack acme-tls/1", cfg.NextProtos)
	}
	fi, err := os.Stat(dir)
	if err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o700 {
		t.Errorf("cache directory: %v, %v", fi, err)
	}

	// The host policy refuses names not configured, before asking the CA.
	for _, name := range []string{"evil.example.test", "example.test"} {
		_, err := cfg.GetCertificate(&tls.ClientHelloInfo{ServerName: name})
		if err == nil || !strings.Contains(err.Error(), "not configured") {
			t.Errorf("GetCertificate(%s) = %v, want refusal by host policy", name, err)
		}
	}

	// HTTP-01: challenges for unknown hosts are forbidden; for known hosts
	// an unknown token is not found; anything else is redirected to HTTPS.
	for _, tc := range []struct {
		host, path string
		code       int
	}{
		{"evil.example.test", "/.well-known/acme-challenge/abc", http.StatusForbidden},
		{"mail.example.test", "/.well-known/acme-challenge/abc", http.StatusNotFound},
		{"mail.example.test", "/", http.StatusFound},
	} {
		req := httptest.NewRequest(http.MethodGet, "http://"+tc.host+tc.path, nil)
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
		if rec.Code != tc.code {
			t.Errorf("GET %s%s: %d, want %d", tc.host, tc.path, rec.Code, tc.code)
		}
	}
}

func TestACMEErrors(t *testing.T) {
	dir := t.TempDir()
	blocker := filepath.Join(dir, "file")
	if err := os.WriteFile(blocker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		opts ACMEOptions
		want string
	}{
		{"no cache", ACMEOptions{Hosts: []string{"a.test"}}, "cache directory is required"},
		{"no hosts", ACMEOptions{CacheDir: dir}, "no host names"},
		{"empty host", ACMEOptions{CacheDir: dir, Hosts: []string{""}}, "invalid host name"},
		{"bad host", ACMEOptions{CacheDir: dir, Hosts: []string{"a b.test"}}, "invalid host name"},
		{"cache is a file", ACMEOptions{CacheDir: filepath.Join(blocker, "sub"), Hosts: []string{"a.test"}}, "cache directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := ACME(tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want error containing %q", err, tc.want)
			}
		})
	}
}
