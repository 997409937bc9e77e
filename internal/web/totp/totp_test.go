package totp

import (
	"strings"
	"testing"
	"time"
)

// The test vectors of RFC 6238 Appendix B for HMAC-SHA1 (8 digits, seed
// "12345678901234567890").
func TestRFC6238Vectors(t *testing.T) {
	seed := []byte("12345678901234567890")
	for _, tc := range []struct {
		unix int64
		want string
	}{
		{59, "94287082"},
		{1111111109, "07081804"},
		{1111111111, "14050471"},
		{1234567890, "89005924"},
		{2000000000, "69279037"},
		{20000000000, "65353130"},
	} {
		got := code(seed, Step(time.Unix(tc.unix, 0)), 8)
		if got != tc.want {
			t.Errorf("T=%d: got %s, want %s", tc.unix, got, tc.want)
		}
		// The 6-digit code is the last six digits of the 8-digit one.
		if six := Code(seed, Step(time.Unix(tc.unix, 0))); six != tc.want[2:] {
			t.Errorf("T=%d: 6-digit code %s, want %s", tc.unix, six, tc.want[2:])
		}
	}
}

// The HOTP test values of RFC 4226 Appendix D.
func TestRFC4226Vectors(t *testing.T) {
	seed := []byte("12345678901234567890")
	want := []string{"755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871", "520489"}
	for i, w := range want {
		if got := Code(seed, int64(i)); got != w {
			t.Errorf("count %d: got %s, want %s", i, got, w)
		}
	}
}

func TestVerify(t *testing.T) {
	secret := []byte("12345678901234567890")
	now := time.Unix(1234567890, 0)
	cur := Step(now)
	for _, tc := range []struct {
		name  string
		input string
		step  int64
		ok    bool
	}{
		{"current", Code(secret, cur), cur, true},
		{"previous step", Code(secret, cur-1), cur - 1, true},
		{"next step", Code(secret, cur+1), cur + 1, true},
		{"two steps old", Code(secret, cur-2), 0, false},
		{"spaces", Code(secret, cur)[:3] + " " + Code(secret, cur)[3:], cur, true},
		{"too short", "12345", 0, false},
		{"letters", "12a456", 0, false},
		{"empty", "", 0, false},
		{"seven digits", Code(secret, cur) + "1", 0, false},
	} {
		step, ok := Verify(secret, tc.input, now)
		if ok != tc.ok || step != tc.step {
			t.Errorf("%s: Verify(%q) = %d, %v; want %d, %v", tc.name, tc.input, step, ok, tc.step, tc.ok)
		}
	}
}

func TestURI(t *testing.T) {
	u := URI("Cabalmail", "alice", []byte("12345678901234567890"))
	want := "otpauth://totp/Cabalmail:alice?algorithm=SHA1&digits=6&issuer=Cabalmail&period=30&secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
	if u != want {
		t.Errorf("URI = %s\nwant   %s", u, want)
	}
	if s := EncodeSecret([]byte("12345678901234567890")); strings.Contains(s, "=") {
		t.Errorf("secret %s is padded", s)
	}
}

func TestNewSecret(t *testing.T) {
	a, err := NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := NewSecret()
	if len(a) != SecretSize || string(a) == string(b) {
		t.Errorf("secrets %x and %x: want two different %d-byte values", a, b, SecretSize)
	}
}
