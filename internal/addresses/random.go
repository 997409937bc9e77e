package addresses

import (
	"fmt"
	"io"
)

// Alphabets for random addresses. The subdomain leaves out 0/o and 1/l,
// which are easy to confuse when read aloud or copied by hand; the local
// part also leaves out vowels (and y), so it cannot spell words.
const (
	subFirstAlphabet = "abcdefghijkmnpqrstuvwxyz"         // a letter first
	subAlphabet      = "abcdefghijkmnpqrstuvwxyz23456789" // 32 symbols
	localAlphabet    = "bcdfghjkmnpqrstvwxz23456789"      // no vowels, no l, 0, 1
	subLen           = 4                                  // like x7k2
	localLen         = 8                                  // like k3vq8m2t
	randomTries      = 20                                 // collisions before giving up
)

// randomString returns n symbols of alphabet drawn uniformly from r. Bytes
// that would bias the draw (the tail above the largest multiple of the
// alphabet's size) are rejected.
func randomString(r io.Reader, alphabet string, n int) (string, error) {
	limit := 256 - 256%len(alphabet)
	out := make([]byte, 0, n)
	buf := make([]byte, n)
	for len(out) < n {
		if _, err := io.ReadFull(r, buf[:n-len(out)]); err != nil {
			return "", fmt.Errorf("addresses: read random bytes: %w", err)
		}
		for _, b := range buf[:n-len(out)] {
			if int(b) < limit {
				out = append(out, alphabet[int(b)%len(alphabet)])
			}
		}
	}
	return string(out), nil
}

// randomParts draws a random local part and subdomain label.
func randomParts(r io.Reader) (local, sub string, err error) {
	first, err := randomString(r, subFirstAlphabet, 1)
	if err != nil {
		return "", "", err
	}
	rest, err := randomString(r, subAlphabet, subLen-1)
	if err != nil {
		return "", "", err
	}
	local, err = randomString(r, localAlphabet, localLen)
	if err != nil {
		return "", "", err
	}
	return local, first + rest, nil
}
