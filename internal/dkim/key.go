// Package dkim is the product's DKIM signing glue (RFC 6376): it generates
// and parses the per-domain signing keys kept in the store, renders the DNS
// TXT record that publishes the public half, and signs outgoing messages with
// the header set and canonicalization the product uses.
//
// The signature itself is computed by github.com/emersion/go-msgauth/dkim.
// This package is not in charge of verifying inbound signatures (that is
// Authentication-Results work, see internal/authres), nor of serving the TXT
// record (internal/dnsd), nor of choosing which domain signs (the caller).
package dkim

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
)

// keyBits is the size of generated RSA keys. RFC 8301 3.2 requires at least
// 1024 bits and recommends 2048. Ed25519 (RFC 8463) would be smaller, but is
// not yet verified everywhere, so new keys are RSA.
const keyBits = 2048

// minKeyBits is the smallest RSA key ParseKey accepts; RFC 8301 3.2 has
// verifiers reject anything shorter.
const minKeyBits = 1024

// GenerateKey returns a new RSA 2048 signing key as a PKCS#8 PEM block, the
// form kept in store.Domain.DKIMKeyPEM.
func GenerateKey() (pemPKCS8 string, err error) {
	key, err := rsa.GenerateKey(rand.Reader, keyBits)
	if err != nil {
		return "", fmt.Errorf("dkim: generate key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return "", fmt.Errorf("dkim: marshal key: %w", err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})), nil
}

// ParseKey reads a signing key from PEM: PKCS#8 ("PRIVATE KEY", RSA or
// Ed25519) as GenerateKey writes, or PKCS#1 ("RSA PRIVATE KEY") as older
// tools such as opendkim-genkey write, so an operator can bring a key along.
func ParseKey(pemText string) (crypto.Signer, error) {
	block, _ := pem.Decode([]byte(pemText))
	if block == nil {
		return nil, errors.New("dkim: parse key: no PEM block found")
	}
	var key any
	var err error
	switch block.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("dkim: parse key: PEM block is %q, want \"PRIVATE KEY\" or \"RSA PRIVATE KEY\"", block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("dkim: parse key: %w", err)
	}
	switch k := key.(type) {
	case *rsa.PrivateKey:
		if bits := k.N.BitLen(); bits < minKeyBits {
			return nil, fmt.Errorf("dkim: parse key: RSA key has %d bits, want at least %d (RFC 8301 3.2)", bits, minKeyBits)
		}
		return k, nil
	case ed25519.PrivateKey:
		return k, nil
	default:
		return nil, fmt.Errorf("dkim: parse key: unsupported key type %T, want RSA or Ed25519", key)
	}
}

// TXTRecord returns the value of the TXT record to publish at
// <selector>._domainkey.<domain> for the key in pemText (RFC 6376 3.6.1):
// "v=DKIM1; k=rsa; p=<base64 of the PKIX public key>". The value is usually
// longer than one DNS character-string may be; see SplitTXT.
func TXTRecord(pemText string) (string, error) {
	signer, err := ParseKey(pemText)
	if err != nil {
		return "", err
	}
	switch pub := signer.Public().(type) {
	case *rsa.PublicKey:
		// RFC 6376 3.6.1: p= is the base64 of an RSAPublicKey wrapped in a
		// SubjectPublicKeyInfo, which is what PKIX marshalling writes.
		der, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			return "", fmt.Errorf("dkim: marshal public key: %w", err)
		}
		return "v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(der), nil
	case ed25519.PublicKey:
		// RFC 8463 4.2: for Ed25519, p= is the bare 32-byte public key.
		return "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(pub), nil
	default:
		return "", fmt.Errorf("dkim: unsupported public key type %T", pub)
	}
}

// maxCharString is the longest DNS character-string (RFC 1035 3.3).
const maxCharString = 255

// SplitTXT cuts a TXT value into character-strings of at most 255 octets, in
// order. A verifier concatenates them without separators (RFC 6376 3.6.2.2),
// so the cut points do not matter. An empty value gives one empty string,
// since a TXT record holds at least one.
func SplitTXT(value string) []string {
	parts := make([]string, 0, len(value)/maxCharString+1)
	for len(value) > maxCharString {
		parts = append(parts, value[:maxCharString])
		value = value[maxCharString:]
	}
	return append(parts, value)
}
