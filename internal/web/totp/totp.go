// Package totp implements time-based one-time passwords (RFC 6238) over
// HOTP (RFC 4226) with the parameters every authenticator app supports:
// HMAC-SHA1, 30-second steps, 6 digits.
//
// It is in charge of generating secrets, computing and checking codes and
// rendering the otpauth:// URI an app enrols from. It is not in charge of
// remembering which step was used last (no reuse of a code): the caller
// stores that, since it must hold across processes.
package totp

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base32"
	"encoding/binary"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Parameters fixed by this package.
const (
	Period     = 30 // seconds per step, RFC 6238 4.1 (X)
	Digits     = 6
	SecretSize = 20 // bytes: 160 bits, RFC 4226 4 recommends at least 128
)

// NewSecret returns a fresh random secret.
func NewSecret() ([]byte, error) {
	b := make([]byte, SecretSize)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("totp: secret: %w", err)
	}
	return b, nil
}

// Step is the time step t falls in: floor((unix - T0) / X) with T0 = 0,
// RFC 6238 4.2.
func Step(t time.Time) int64 { return t.Unix() / Period }

// Code computes the code for one step with the default 6 digits.
func Code(secret []byte, step int64) string { return code(secret, step, Digits) }

// code is HOTP(K, C) of RFC 4226 5.3 truncated to digits decimal digits.
func code(secret []byte, counter int64, digits int) string {
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], uint64(counter)) // RFC 4226 5.2: C is an 8-byte big-endian counter
	mac := hmac.New(sha1.New, secret)
	mac.Write(msg[:])
	sum := mac.Sum(nil)
	off := sum[len(sum)-1] & 0x0f // RFC 4226 5.3: dynamic truncation
	bin := binary.BigEndian.Uint32(sum[off:off+4]) & 0x7fffffff
	mod := uint32(1)
	for range digits {
		mod *= 10
	}
	return fmt.Sprintf("%0*d", digits, bin%mod)
}

// Skew is how many steps either side of now a code is accepted for, to
// allow for clock drift and typing time (RFC 6238 5.2 recommends one).
const Skew = 1

// Verify checks a 6-digit code against the steps around now and returns the
// step it matched. The caller must refuse a step at or before the last one
// it accepted.
func Verify(secret []byte, input string, now time.Time) (step int64, ok bool) {
	input = strings.ReplaceAll(strings.TrimSpace(input), " ", "")
	if len(input) != Digits {
		return 0, false
	}
	for _, c := range input {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	cur := Step(now)
	// Look at the newest step first, so a code valid for two steps (never,
	// in practice) records the later one.
	for d := int64(Skew); d >= -Skew; d-- {
		if hmac.Equal([]byte(Code(secret, cur+d)), []byte(input)) {
			return cur + d, true
		}
	}
	return 0, false
}

// EncodeSecret renders a secret in the unpadded base32 that authenticator
// apps accept for manual entry.
func EncodeSecret(secret []byte) string {
	return base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(secret)
}

// URI is the otpauth:// enrolment URI (the Key Uri Format of Google
// Authenticator, which other apps follow): issuer and account label, the
// secret and the parameters.
func URI(issuer, account string, secret []byte) string {
	label := url.PathEscape(issuer) + ":" + url.PathEscape(account)
	q := url.Values{}
	q.Set("secret", EncodeSecret(secret))
	q.Set("issuer", issuer)
	q.Set("algorithm", "SHA1")
	q.Set("digits", fmt.Sprint(Digits))
	q.Set("period", fmt.Sprint(Period))
	return "otpauth://totp/" + label + "?" + q.Encode()
}
