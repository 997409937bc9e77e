package accounts

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/cabalmail/cabalmail/internal/accounts/internal/argon2"
)

// argon2id parameters for new hashes: the OWASP password storage
// recommendation of 19 MiB, two passes, one lane. Hashes written with other
// parameters still verify, since VerifyPassword reads them from the string.
const (
	argonMemory  = 19 * 1024 // KiB
	argonTime    = 2
	argonThreads = 1
	argonKeyLen  = 32
	saltLen      = 16
)

// Bounds on parameters read back from a stored hash, so that a corrupt or
// hostile row cannot make verification take gigabytes or minutes.
const (
	maxMemory  = 1 << 20 // KiB, 1 GiB
	maxTime    = 64
	maxThreads = 64
	minSaltLen = 8
	maxSaltLen = 64
	minKeyLen  = 16
	maxKeyLen  = 128
)

// Password length limits, in characters.
const (
	MinPasswordLen = 8
	MaxPasswordLen = 1024
)

// ValidatePassword reports whether password is acceptable for a new
// password: valid UTF-8, 8 to 1024 characters.
func ValidatePassword(password string) error {
	n := utf8.RuneCountInString(password)
	switch {
	case password == "":
		return errorf(ErrInvalidPassword, "password is empty")
	case !utf8.ValidString(password):
		return errorf(ErrInvalidPassword, "password is not valid UTF-8")
	case n < MinPasswordLen:
		return errorf(ErrInvalidPassword, "password is %d characters long; at least %d are required", n, MinPasswordLen)
	case n > MaxPasswordLen:
		return errorf(ErrInvalidPassword, "password is %d characters long; at most %d are allowed", n, MaxPasswordLen)
	}
	return nil
}

// HashPassword hashes password with argon2id and a fresh random 16-byte
// salt, and returns it in PHC string format:
// $argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash> (unpadded standard base64).
// It hashes any password; callers check ValidatePassword first. It runs
// in one of the process-wide hashing slots, waiting for one as long as it
// takes.
func HashPassword(password string) (string, error) {
	mem, err := processHashes.acquire(context.Background())
	if err != nil {
		return "", err
	}
	defer processHashes.release(mem)
	return hashPasswordIn(mem, password)
}

// hashPasswordIn is HashPassword computed in mem, the Memory of a hashing
// slot the caller holds.
func hashPasswordIn(mem *argon2.Memory, password string) (string, error) {
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("accounts: read salt: %w", err)
	}
	key := mem.IDKey([]byte(password), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	return encodeHash(argonMemory, argonTime, argonThreads, salt, key), nil
}

func encodeHash(m, t uint32, p uint8, salt, key []byte) string {
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, m, t, p, b64.EncodeToString(salt), b64.EncodeToString(key))
}

// VerifyPassword reports whether password matches the PHC-format argon2id
// hash encoded. The comparison takes constant time. A malformed hash is an
// error wrapping ErrMalformedHash, never a match. It runs in one of the
// process-wide hashing slots, waiting for one as long as it takes.
func VerifyPassword(encoded, password string) (bool, error) {
	mem, err := processHashes.acquire(context.Background())
	if err != nil {
		return false, err
	}
	defer processHashes.release(mem)
	return verifyPasswordIn(mem, encoded, password)
}

// verifyPasswordIn is VerifyPassword computed in mem, the Memory of a
// hashing slot the caller holds.
func verifyPasswordIn(mem *argon2.Memory, encoded, password string) (bool, error) {
	h, err := decodeHash(encoded)
	if err != nil {
		return false, err
	}
	key := mem.IDKey([]byte(password), h.salt, h.time, h.memory, h.threads, uint32(len(h.key)))
	return subtle.ConstantTimeCompare(key, h.key) == 1, nil
}

type argonHash struct {
	memory, time uint32
	threads      uint8
	salt, key    []byte
}

// decodeHash parses $argon2id$v=19$m=M,t=T,p=P$salt$hash.
func decodeHash(encoded string) (argonHash, error) {
	bad := func(why string) (argonHash, error) {
		return argonHash{}, errorf(ErrMalformedHash, "password hash %s", why)
	}
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[0] != "" {
		return bad("is not in PHC string format ($argon2id$v=19$m=...,t=...,p=...$salt$hash)")
	}
	if parts[1] != "argon2id" {
		return bad(fmt.Sprintf("uses algorithm %q; only argon2id is supported", parts[1]))
	}
	if parts[2] != fmt.Sprintf("v=%d", argon2.Version) {
		return bad(fmt.Sprintf("has version %q; only v=%d is supported", parts[2], argon2.Version))
	}
	var h argonHash
	params := strings.Split(parts[3], ",")
	if len(params) != 3 {
		return bad(fmt.Sprintf("has parameters %q; want m=...,t=...,p=...", parts[3]))
	}
	for i, name := range []string{"m", "t", "p"} {
		val, ok := strings.CutPrefix(params[i], name+"=")
		if !ok {
			return bad(fmt.Sprintf("has parameters %q; want m=...,t=...,p=...", parts[3]))
		}
		n, err := strconv.ParseUint(val, 10, 32)
		if err != nil || n == 0 || strconv.FormatUint(n, 10) != val {
			return bad(fmt.Sprintf("has a bad %s parameter %q", name, val))
		}
		switch name {
		case "m":
			if n > maxMemory {
				return bad(fmt.Sprintf("asks for %d KiB of memory; at most %d are allowed", n, maxMemory))
			}
			h.memory = uint32(n)
		case "t":
			if n > maxTime {
				return bad(fmt.Sprintf("asks for %d passes; at most %d are allowed", n, maxTime))
			}
			h.time = uint32(n)
		case "p":
			if n > maxThreads {
				return bad(fmt.Sprintf("asks for %d lanes; at most %d are allowed", n, maxThreads))
			}
			h.threads = uint8(n)
		}
	}
	if h.memory < 8*uint32(h.threads) { // argon2 needs 8 KiB per lane
		return bad(fmt.Sprintf("has memory %d KiB, below 8 KiB per lane", h.memory))
	}
	var ok bool
	if h.salt, ok = decodeB64(parts[4]); !ok {
		return bad("has a salt that is not unpadded base64")
	}
	if len(h.salt) < minSaltLen || len(h.salt) > maxSaltLen {
		return bad(fmt.Sprintf("has a %d-byte salt; want %d to %d", len(h.salt), minSaltLen, maxSaltLen))
	}
	if h.key, ok = decodeB64(parts[5]); !ok {
		return bad("has a hash that is not unpadded base64")
	}
	if len(h.key) < minKeyLen || len(h.key) > maxKeyLen {
		return bad(fmt.Sprintf("has a %d-byte hash; want %d to %d", len(h.key), minKeyLen, maxKeyLen))
	}
	return h, nil
}

// decodeB64 decodes unpadded standard base64 strictly: the decoder skips
// line breaks, so the text must also be exactly what encoding gives back.
func decodeB64(s string) ([]byte, bool) {
	b, err := base64.RawStdEncoding.Strict().DecodeString(s)
	if err != nil || base64.RawStdEncoding.EncodeToString(b) != s {
		return nil, false
	}
	return b, true
}

// passwordAlphabet leaves out characters that are easy to confuse when read
// aloud or copied by hand: 0 O o and 1 I l.
const passwordAlphabet = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"

// GeneratedPasswordLen is the length of GeneratePassword's result: about
// 116 bits of entropy.
const GeneratedPasswordLen = 20

// GeneratePassword returns a random password of 20 characters from an
// alphabet without confusable characters.
func GeneratePassword() string {
	limit := 256 - 256%len(passwordAlphabet)
	out := make([]byte, 0, GeneratedPasswordLen)
	buf := make([]byte, GeneratedPasswordLen)
	for len(out) < GeneratedPasswordLen {
		// crypto/rand.Read never returns an error (it crashes the program
		// if the system's source fails).
		_, _ = rand.Read(buf)
		for _, b := range buf {
			if int(b) < limit && len(out) < GeneratedPasswordLen {
				out = append(out, passwordAlphabet[int(b)%len(passwordAlphabet)])
			}
		}
	}
	return string(out)
}
