package dkim

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"strings"
	"sync"
	"testing"
)

var (
	keyOnce sync.Once
	keyPEM  string
	keyErr  error
)

// testKey returns one generated RSA key PEM, shared by the tests because
// generating a 2048-bit key is slow.
func testKey(t testing.TB) string {
	t.Helper()
	keyOnce.Do(func() { keyPEM, keyErr = GenerateKey() })
	if keyErr != nil {
		t.Fatal(keyErr)
	}
	return keyPEM
}

func ed25519PEM(t testing.TB) string {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

func TestGenerateAndParse(t *testing.T) {
	p := testKey(t)
	if !strings.HasPrefix(p, "-----BEGIN PRIVATE KEY-----\n") {
		t.Errorf("not a PKCS#8 PEM block: %.40q", p)
	}
	s, err := ParseKey(p)
	if err != nil {
		t.Fatal(err)
	}
	k, ok := s.(*rsa.PrivateKey)
	if !ok {
		t.Fatalf("ParseKey gave %T, want *rsa.PrivateKey", s)
	}
	if k.N.BitLen() != 2048 {
		t.Errorf("key has %d bits, want 2048", k.N.BitLen())
	}

	// The same key in PKCS#1, as opendkim-genkey writes it.
	pkcs1 := string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)}))
	s1, err := ParseKey(pkcs1)
	if err != nil {
		t.Fatalf("PKCS#1: %v", err)
	}
	if !s1.(*rsa.PrivateKey).Equal(k) {
		t.Error("PKCS#1 form parsed to a different key")
	}

	if _, err := ParseKey(ed25519PEM(t)); err != nil {
		t.Errorf("Ed25519: %v", err)
	}
}

const rsa512PEM = `-----BEGIN RSA PRIVATE KEY-----
MIIBOgIBAAJBALuMBdL9JczMKpdbv15pLwq4OGAMq+Wr8lA9eimY28whkNpKU7O0
HQY+DhEGTxHcsUkhYb49gQc1+6C14yZU0lkCAwEAAQJAej709OgpIWrbQDl/baym
Cxi1NnZL/bKsiXzpCgAnFNCULUTf1sAkl6Eh/FzL+UHmKUOpLMLXw2DgwUWPxm1J
AQIhAPlfx+TPnKFzIdKINZYZswAGYNZ76P6oBJm4yAzyfeMpAiEAwIezBy6YHatD
S73xVVIp0NX1yALwMuTmcqMO2clIC7ECIFYd5YH20DhQ8hUqRJcZON+BVF+9WrDW
hQAw96TA+QhBAiEAlCKU7Ay8u+8/KzLtUiGSzP0jTA5+tBoM+d1eGtHVHjECIChQ
y5UMrGg0IU/ihy7KBZu4gevEKdMrAEQUJn+u8yPU
-----END RSA PRIVATE KEY-----
`

func TestParseKeyErrors(t *testing.T) {
	ecKeyDER := func() []byte {
		// A P-256 key: valid PKCS#8, but not a DKIM key type.
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return der
	}
	for _, tc := range []struct{ name, pem, want string }{
		{"empty", "", "no PEM block"},
		{"not PEM", "MIIBOwIBAAJBAJhgUJ37", "no PEM block"},
		{"certificate", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", `"CERTIFICATE"`},
		{"bad DER", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "parse key"},
		{"ECDSA", string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: ecKeyDER()})), "unsupported key type"},
		{"RSA 512", rsa512PEM, "want at least 1024"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := ParseKey(tc.pem)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("ParseKey = %v, %v; want error containing %q", s, err, tc.want)
			}
		})
	}
}

func TestTXTRecord(t *testing.T) {
	p := testKey(t)
	txt, err := TXTRecord(p)
	if err != nil {
		t.Fatal(err)
	}
	b64, ok := strings.CutPrefix(txt, "v=DKIM1; k=rsa; p=")
	if !ok {
		t.Fatalf("record %.40q lacks the v=DKIM1; k=rsa; p= prefix", txt)
	}
	der, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := ParseKey(p)
	if !s.(*rsa.PrivateKey).PublicKey.Equal(pub) {
		t.Error("p= is not the key's public half")
	}

	edTXT, err := TXTRecord(ed25519PEM(t))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(edTXT, "v=DKIM1; k=ed25519; p="))
	if err != nil || len(raw) != ed25519.PublicKeySize {
		t.Errorf("Ed25519 record %q: want the bare 32-byte key (RFC 8463)", edTXT)
	}

	if _, err := TXTRecord("junk"); err == nil {
		t.Error("TXTRecord accepted junk")
	}
}

func TestSplitTXT(t *testing.T) {
	for _, n := range []int{0, 1, 254, 255, 256, 510, 511, 1000} {
		v := strings.Repeat("abcdefghij", 101)[:n]
		parts := SplitTXT(v)
		if want := max(1, (n+254)/255); len(parts) != want {
			t.Errorf("len %d: %d parts, want %d", n, len(parts), want)
		}
		for _, p := range parts {
			if len(p) > 255 {
				t.Errorf("len %d: part of %d octets", n, len(p))
			}
		}
		if strings.Join(parts, "") != v {
			t.Errorf("len %d: parts do not join back to the value", n)
		}
	}
}
