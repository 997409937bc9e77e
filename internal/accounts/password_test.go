package accounts

import (
	"errors"
	"regexp"
	"strings"
	"testing"
)

func TestValidatePassword(t *testing.T) {
	tests := []struct {
		pw  string
		why string
	}{
		{"correct horse", ""},
		{"12345678", ""},
		{"ünïcödé!", ""}, // 8 characters, more octets
		{strings.Repeat("x", 1024), ""},
		{"", "is empty"},
		{"1234567", "7 characters long; at least 8"},
		{"äöü", "3 characters long"},
		{strings.Repeat("x", 1025), "1025 characters long; at most 1024"},
		{"abcdefg\xff", "not valid UTF-8"},
	}
	for _, tt := range tests {
		err := ValidatePassword(tt.pw)
		if tt.why == "" {
			if err != nil {
				t.Errorf("ValidatePassword(%.20q) = %v", tt.pw, err)
			}
			continue
		}
		if !errors.Is(err, ErrInvalidPassword) || !strings.Contains(err.Error(), tt.why) {
			t.Errorf("ValidatePassword(%.20q) = %v, want ErrInvalidPassword mentioning %q", tt.pw, err, tt.why)
		}
	}
}

var phc = regexp.MustCompile(`^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`)

func TestHashAndVerify(t *testing.T) {
	h1, err := HashPassword("correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	if !phc.MatchString(h1) {
		t.Fatalf("hash %q is not in the expected PHC form", h1)
	}
	h2, err := HashPassword("correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	if h1 == h2 {
		t.Fatal("two hashes of the same password are equal: the salt is not random")
	}
	for _, h := range []string{h1, h2} {
		ok, err := VerifyPassword(h, "correct horse battery")
		if err != nil || !ok {
			t.Errorf("VerifyPassword(right) = %v, %v", ok, err)
		}
		for _, wrong := range []string{"correct horse batterY", "", "correct horse battery "} {
			ok, err = VerifyPassword(h, wrong)
			if err != nil || ok {
				t.Errorf("VerifyPassword(%q) = %v, %v; want false, nil", wrong, ok, err)
			}
		}
	}
}

// Hashes written by the argon2 reference implementation (the Debian argon2
// command) verify, with our parameters and with others read from the string.
func TestVerifyReferenceHashes(t *testing.T) {
	tests := []struct{ enc, pw string }{
		// echo -n "correct horse battery" | argon2 somesalt0123456 -id -t 2 -k 19456 -p 1 -l 32 -e
		{"$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHQwMTIzNDU2$V3TMHtYdnGDqc42fFQ1u4LzobNNDkH8a+R5hG8vjy18", "correct horse battery"},
		// echo -n "pw-other-params" | argon2 saltsaltsalt -id -t 1 -k 64 -p 2 -l 24 -e
		{"$argon2id$v=19$m=64,t=1,p=2$c2FsdHNhbHRzYWx0$dhj8iExQzh3n6DdKIDZJLG4jEz/S8JXv", "pw-other-params"},
	}
	for _, tt := range tests {
		if ok, err := VerifyPassword(tt.enc, tt.pw); err != nil || !ok {
			t.Errorf("VerifyPassword(%q, right) = %v, %v", tt.enc, ok, err)
		}
		if ok, err := VerifyPassword(tt.enc, tt.pw+"x"); err != nil || ok {
			t.Errorf("VerifyPassword(%q, wrong) = %v, %v", tt.enc, ok, err)
		}
	}
}

func TestVerifyMalformed(t *testing.T) {
	good, err := HashPassword("hunter2hunter2")
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(good, "$")
	with := func(i int, v string) string {
		p := append([]string(nil), parts...)
		p[i] = v
		return strings.Join(p, "$")
	}
	tests := []struct {
		enc, why string
	}{
		{"", "not in PHC string format"},
		{"plaintext", "not in PHC string format"},
		{strings.TrimPrefix(good, "$"), "not in PHC string format"},
		{good + "$extra", "not in PHC string format"},
		{with(1, "argon2i"), `algorithm "argon2i"`},
		{with(1, "bcrypt"), `algorithm "bcrypt"`},
		{with(2, "v=16"), `version "v=16"`},
		{with(3, "m=19456,t=2"), "want m=...,t=...,p=..."},
		{with(3, "t=2,m=19456,p=1"), "want m=...,t=...,p=..."},
		{with(3, "m=x,t=2,p=1"), `bad m parameter "x"`},
		{with(3, "m=19456,t=0,p=1"), `bad t parameter "0"`},
		{with(3, "m=019456,t=2,p=1"), `bad m parameter "019456"`},
		{with(3, "m=19456,t=2,p=-1"), `bad p parameter "-1"`},
		{with(3, "m=99999999,t=2,p=1"), "KiB of memory"},
		{with(3, "m=19456,t=1000,p=1"), "1000 passes"},
		{with(3, "m=19456,t=2,p=200"), "200 lanes"},
		{with(3, "m=8,t=2,p=2"), "below 8 KiB per lane"},
		{with(4, "not*base64"), "salt that is not unpadded base64"},
		{with(4, parts[4]+"=="), "salt that is not unpadded base64"},
		{with(4, "AAAA"), "3-byte salt"},
		{with(4, parts[4][:5]+"\r\n"+parts[4][5:]), "salt that is not unpadded base64"},
		{with(5, "!!"), "hash that is not unpadded base64"},
		{with(5, "AAAA"), "3-byte hash"},
	}
	for _, tt := range tests {
		ok, err := VerifyPassword(tt.enc, "hunter2hunter2")
		if ok || !errors.Is(err, ErrMalformedHash) || !strings.Contains(err.Error(), tt.why) {
			t.Errorf("VerifyPassword(%q) = %v, %v; want ErrMalformedHash mentioning %q", tt.enc, ok, err, tt.why)
		}
	}
}

func TestGeneratePassword(t *testing.T) {
	seen := map[string]bool{}
	for range 200 {
		pw := GeneratePassword()
		if len(pw) != GeneratedPasswordLen {
			t.Fatalf("GeneratePassword() = %q, want %d characters", pw, GeneratedPasswordLen)
		}
		if strings.ContainsAny(pw, "0Oo1Il") {
			t.Fatalf("GeneratePassword() = %q has a confusable character", pw)
		}
		if err := ValidatePassword(pw); err != nil {
			t.Fatal(err)
		}
		if seen[pw] {
			t.Fatalf("GeneratePassword() repeated %q", pw)
		}
		seen[pw] = true
	}
}

func BenchmarkHashPassword(b *testing.B) {
	// A first hash gives a slot its array, as on a server after its
	// first login; the loop measures the hashes after that.
	if _, err := HashPassword("correct horse battery staple"); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := HashPassword("correct horse battery staple"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyPassword(b *testing.B) {
	h, err := HashPassword("correct horse battery staple")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if ok, err := VerifyPassword(h, "correct horse battery staple"); !ok || err != nil {
			b.Fatal(ok, err)
		}
	}
}

func FuzzDecodeHash(f *testing.F) {
	f.Add("$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHQwMTIzNDU2$V3TMHtYdnGDqc42fFQ1u4LzobNNDkH8a+R5hG8vjy18")
	f.Add("$argon2id$v=19$m=64,t=1,p=2$c2FsdHNhbHRzYWx0$dhj8iExQzh3n6DdKIDZJLG4jEz/S8JXv")
	f.Add("$argon2i$v=19$m=1,t=1,p=1$$")
	f.Fuzz(func(t *testing.T, enc string) {
		h, err := decodeHash(enc)
		if err != nil {
			if !errors.Is(err, ErrMalformedHash) {
				t.Fatalf("decodeHash(%q) error %v does not wrap ErrMalformedHash", enc, err)
			}
			return
		}
		if h.memory > maxMemory || h.time == 0 || h.time > maxTime || h.threads == 0 || h.threads > maxThreads ||
			h.memory < 8*uint32(h.threads) || len(h.salt) < minSaltLen || len(h.key) < minKeyLen {
			t.Fatalf("decodeHash(%q) accepted out-of-bounds parameters %+v", enc, h)
		}
		if again := encodeHash(h.memory, h.time, h.threads, h.salt, h.key); again != enc {
			t.Fatalf("decodeHash(%q) does not round-trip: %q", enc, again)
		}
	})
}
