package addresses

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestRandomParts(t *testing.T) {
	seen := map[string]bool{}
	for range 500 {
		local, sub, err := randomParts(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		if len(sub) != subLen || !strings.ContainsRune(subFirstAlphabet, rune(sub[0])) {
			t.Fatalf("subdomain %q: want %d characters starting with a letter", sub, subLen)
		}
		if strings.ContainsAny(sub, "0o1l") {
			t.Fatalf("subdomain %q has a confusable character", sub)
		}
		if len(local) != localLen || strings.ContainsAny(local, "aeiouy01l") {
			t.Fatalf("local part %q: want %d characters without vowels or confusables", local, localLen)
		}
		if err := ValidateLabel(sub); err != nil {
			t.Fatal(err)
		}
		if err := ValidateLocal(local); err != nil {
			t.Fatal(err)
		}
		seen[local+"@"+sub] = true
	}
	if len(seen) < 490 {
		t.Errorf("only %d distinct addresses in 500 draws", len(seen))
	}
}

func TestRandomStringRejectsBiasedBytes(t *testing.T) {
	// 24 symbols: bytes 240..255 would bias the draw and must be skipped.
	src := bytes.NewReader([]byte{255, 240, 0, 250, 23, 25})
	got, err := randomString(src, subFirstAlphabet, 3)
	if err != nil {
		t.Fatal(err)
	}
	if want := "azb"; got != want {
		t.Errorf("randomString = %q, want %q", got, want)
	}
}

func TestRandomStringShortSource(t *testing.T) {
	_, err := randomString(bytes.NewReader([]byte{1}), localAlphabet, 4)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("err = %v, want io.ErrUnexpectedEOF", err)
	}
}

func TestAlphabetsAreValid(t *testing.T) {
	if len(subAlphabet) != 32 {
		t.Errorf("subAlphabet has %d symbols", len(subAlphabet))
	}
	for _, a := range []string{subFirstAlphabet, subAlphabet, localAlphabet} {
		seen := map[rune]bool{}
		for _, c := range a {
			if seen[c] {
				t.Errorf("alphabet %q repeats %q", a, c)
			}
			seen[c] = true
		}
	}
}
