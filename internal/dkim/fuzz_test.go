package dkim

import (
	"bytes"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/pem"
	"strings"
	"testing"

	msgauth "github.com/emersion/go-msgauth/dkim"
)

// FuzzSign feeds arbitrary messages (submitted mail is network input) to
// Sign: it must never panic, and whatever it signs must verify.
func FuzzSign(f *testing.F) {
	f.Add(testMessage)
	f.Add("From: a@b\r\n\r\n")
	f.Add("From: a@b\nTo: c@d\n\nbody\n")
	f.Add("From: a@b\r\n\tcontinued\r\nSubject:\r\n\r\n\r\n\r\n")
	f.Add(" From: a@b\r\n\r\n")

	// Ed25519 keeps each iteration cheap; the glue under test is the same.
	priv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		f.Fatal(err)
	}
	txt, err := TXTRecord(string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})))
	if err != nil {
		f.Fatal(err)
	}
	lookup := func(string) ([]string, error) { return []string{txt}, nil }

	f.Fuzz(func(t *testing.T, msg string) {
		var out bytes.Buffer
		if err := Sign(&out, strings.NewReader(msg), "example.test", "sel1", priv); err != nil {
			if out.Len() != 0 {
				t.Fatalf("failed Sign wrote %d bytes", out.Len())
			}
			return
		}
		vs, err := msgauth.VerifyWithOptions(&out, &msgauth.VerifyOptions{LookupTXT: lookup})
		if err != nil {
			t.Fatalf("signed message does not parse: %v", err)
		}
		if len(vs) == 0 || vs[0].Err != nil {
			t.Fatalf("signed message does not verify: %v", vs[0].Err)
		}
	})
}
