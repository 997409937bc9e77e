package providers

import (
	"strings"
	"testing"
)

// FuzzProviderOf feeds MX host names as DNS returns them (network input):
// the provider is never longer than the host or the recipient's domain,
// and is lower-case.
func FuzzProviderOf(f *testing.F) {
	for _, s := range []string{"gmail-smtp-in.l.google.com.", "mx1.mail.example.co.uk", "127.0.0.1", "[::1]", "", ".", "..", "com", "a.b.c.d.e.f"} {
		f.Add(s, "user@example.com")
	}
	f.Fuzz(func(t *testing.T, host, rcpt string) {
		p := ProviderOf(host, rcpt)
		if p != strings.ToLower(p) {
			t.Fatalf("ProviderOf(%q, %q) = %q: not lower-case", host, rcpt, p)
		}
		if len(p) > len(host)+len(rcpt) {
			t.Fatalf("ProviderOf(%q, %q) = %q: longer than its input", host, rcpt, p)
		}
	})
}
