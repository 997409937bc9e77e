package argon2

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"

	xargon2 "golang.org/x/crypto/argon2"
)

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// forEachBlockMixer runs f with the assembly block mixer and with the pure
// Go one, where the machine has both.
func forEachBlockMixer(t *testing.T, f func(t *testing.T)) {
	if useSSE4 {
		t.Run("sse4", f)
		useSSE4 = false
		defer func() { useSSE4 = true }()
	}
	t.Run("generic", f)
}

// RFC 9106 5.3: the Argon2id test vector, with secret and associated data.
func TestRFC9106Vector(t *testing.T) {
	password := bytes.Repeat([]byte{0x01}, 32)
	salt := bytes.Repeat([]byte{0x02}, 16)
	secret := bytes.Repeat([]byte{0x03}, 8)
	data := bytes.Repeat([]byte{0x04}, 12)
	want := mustHex(t, "0d640df58d78766c08c037a34a8b53c9d01ef0452d75b65eb52520e96b01e659")
	forEachBlockMixer(t, func(t *testing.T) {
		var m Memory
		// Twice with the same Memory: the second run starts from the
		// first one's blocks.
		for i := range 2 {
			if got := m.IDKeyWithSecret(password, salt, secret, data, 3, 32, 4, 32); !bytes.Equal(got, want) {
				t.Errorf("run %d: tag %x, want %x", i, got, want)
			}
		}
	})
}

// The Argon2id vectors of x/crypto's argon2_test.go, made with the
// reference implementation's command.
func TestXCryptoVectors(t *testing.T) {
	vectors := []struct {
		time, memory uint32
		threads      uint8
		hash         string
	}{
		{1, 64, 1, "655ad15eac652dc59f7170a7332bf49b8469be1fdb9c28bb"},
		{2, 64, 1, "068d62b26455936aa6ebe60060b0a65870dbfa3ddf8d41f7"},
		{2, 64, 2, "350ac37222f436ccb5c0972f1ebd3bf6b958bf2071841362"},
		{3, 256, 2, "4668d30ac4187e6878eedeacf0fd83c5a0a30db2cc16ef0b"},
		{4, 4096, 4, "145db9733a9f4ee43edf33c509be96b934d505a4efb33c5a"},
		{4, 1024, 8, "8dafa8e004f8ea96bf7c0f93eecf67a6047476143d15577f"},
		{2, 64, 3, "4a15b31aec7c2590b87d1f520be7d96f56658172deaa3079"},
		{3, 1024, 6, "1640b932f4b60e272f5d2207b9a9c626ffa1bd88d2349016"},
	}
	password, salt := []byte("password"), []byte("somesalt")
	forEachBlockMixer(t, func(t *testing.T) {
		var m Memory // shared by all vectors, in this order
		for _, v := range vectors {
			want := mustHex(t, v.hash)
			if got := m.IDKey(password, salt, v.time, v.memory, v.threads, uint32(len(want))); !bytes.Equal(got, want) {
				t.Errorf("t=%d m=%d p=%d: %x, want %x", v.time, v.memory, v.threads, got, want)
			}
		}
	})
}

type params struct {
	password, salt []byte
	time, memory   uint32
	threads        uint8
	keyLen         uint32
}

func (p params) String() string {
	return fmt.Sprintf("password=%x salt=%x t=%d m=%d p=%d keyLen=%d", p.password, p.salt, p.time, p.memory, p.threads, p.keyLen)
}

func randomBytes(r *rand.Rand, max int) []byte {
	b := make([]byte, r.IntN(max+1))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func randomParams(r *rand.Rand) params {
	pwMax := 40
	if r.IntN(8) == 0 {
		pwMax = 1100 // past initHash's stack buffer
	}
	p := params{
		password: randomBytes(r, pwMax),
		salt:     randomBytes(r, 40),
		time:     1 + r.Uint32N(4),
		threads:  uint8(1 + r.IntN(8)),
		keyLen:   1 + r.Uint32N(160), // past 64 bytes blake2bHash chains hashes
	}
	switch r.IntN(4) {
	case 0: // below the 8 KiB per lane minimum: rounded up
		p.memory = 1 + r.Uint32N(8*uint32(p.threads))
	case 1: // a multiple of 4*p
		p.memory = 4 * uint32(p.threads) * (2 + r.Uint32N(40))
	default: // anything, mostly not a multiple of 4*p
		p.memory = 1 + r.Uint32N(700)
	}
	return p
}

// TestMatchesXCrypto compares many random parameter sets with x/crypto's
// IDKey, through one Memory reused in the order given (so growing and
// shrinking) and through a fresh one.
func TestMatchesXCrypto(t *testing.T) {
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 0))
	n := 400
	if testing.Short() {
		n = 50
	}
	var reused Memory
	for i := range n {
		p := randomParams(r)
		want := xargon2.IDKey(p.password, p.salt, p.time, p.memory, p.threads, p.keyLen)
		if got := reused.IDKey(p.password, p.salt, p.time, p.memory, p.threads, p.keyLen); !bytes.Equal(got, want) {
			t.Fatalf("case %d, reused Memory, %v: %x, want %x", i, p, got, want)
		}
		var fresh Memory
		if got := fresh.IDKey(p.password, p.salt, p.time, p.memory, p.threads, p.keyLen); !bytes.Equal(got, want) {
			t.Fatalf("case %d, fresh Memory, %v: %x, want %x", i, p, got, want)
		}
	}
	// The parameters package accounts uses, and a few odd large ones.
	for _, p := range []params{
		{[]byte("correct horse battery staple"), []byte("0123456789abcdef"), 2, 19 * 1024, 1, 32},
		{[]byte("pw"), []byte("saltsalt"), 1, 4099, 3, 32},
		{[]byte("pw"), []byte("saltsalt"), 2, 2050, 4, 64},
		{bytes.Repeat([]byte("long password "), 80), bytes.Repeat([]byte("s"), 64), 1, 64, 1, 32},
	} {
		want := xargon2.IDKey(p.password, p.salt, p.time, p.memory, p.threads, p.keyLen)
		if got := reused.IDKey(p.password, p.salt, p.time, p.memory, p.threads, p.keyLen); !bytes.Equal(got, want) {
			t.Errorf("%v: %x, want %x", p, got, want)
		}
	}
}

// TestReuseLeaksNothing hashes A, then B, then A again in one Memory: A's
// result must not depend on what the array held before.
func TestReuseLeaksNothing(t *testing.T) {
	a := params{[]byte("password A"), []byte("salt of A"), 2, 256, 1, 32}
	cases := []struct {
		name string
		b    params
	}{
		{"same parameters", params{[]byte("password B"), []byte("salt of B"), 2, 256, 1, 32}},
		{"larger array", params{[]byte("password B"), []byte("salt of B"), 3, 1000, 2, 32}},
		{"smaller array", params{[]byte("password B"), []byte("salt of B"), 1, 64, 4, 16}},
	}
	want := xargon2.IDKey(a.password, a.salt, a.time, a.memory, a.threads, a.keyLen)
	forEachBlockMixer(t, func(t *testing.T) {
		for _, c := range cases {
			var m Memory
			first := m.IDKey(a.password, a.salt, a.time, a.memory, a.threads, a.keyLen)
			b := m.IDKey(c.b.password, c.b.salt, c.b.time, c.b.memory, c.b.threads, c.b.keyLen)
			again := m.IDKey(a.password, a.salt, a.time, a.memory, a.threads, a.keyLen)
			if !bytes.Equal(first, want) || !bytes.Equal(again, want) {
				t.Errorf("%s: A gave %x, then after B %x; want %x both times", c.name, first, again, want)
			}
			if wantB := xargon2.IDKey(c.b.password, c.b.salt, c.b.time, c.b.memory, c.b.threads, c.b.keyLen); !bytes.Equal(b, wantB) {
				t.Errorf("%s: B gave %x, want %x", c.name, b, wantB)
			}
		}
	})
}

// TestConcurrent runs derivations on many goroutines, each with its own
// Memory reused over several parameter sets; go test -race watches it.
func TestConcurrent(t *testing.T) {
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 1))
	const workers, each = 8, 6
	cases := make([][]params, workers)
	wants := make([][][]byte, workers)
	for w := range cases {
		for range each {
			p := randomParams(r)
			cases[w] = append(cases[w], p)
			wants[w] = append(wants[w], xargon2.IDKey(p.password, p.salt, p.time, p.memory, p.threads, p.keyLen))
		}
	}
	var wg sync.WaitGroup
	errs := make(chan string, workers*each)
	for w := range workers {
		wg.Go(func() {
			var m Memory
			for i, p := range cases[w] {
				if got := m.IDKey(p.password, p.salt, p.time, p.memory, p.threads, p.keyLen); !bytes.Equal(got, wants[w][i]) {
					errs <- fmt.Sprintf("worker %d, %v: %x, want %x", w, p, got, wants[w][i])
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

func TestMemoryInUsePanics(t *testing.T) {
	var m Memory
	m.inUse.Store(true) // as if another goroutine were deriving
	defer func() {
		if recover() == nil {
			t.Error("IDKey on a Memory in use did not panic")
		}
		m.leave()
		if got := m.IDKey([]byte("pw"), []byte("saltsalt"), 1, 8, 1, 16); len(got) != 16 {
			t.Errorf("Memory unusable after the panic: key of %d bytes", len(got))
		}
	}()
	m.IDKey([]byte("pw"), []byte("saltsalt"), 1, 8, 1, 16)
}

func TestBadParametersPanic(t *testing.T) {
	for _, c := range []struct {
		name          string
		time, keyLen  uint32
		threads       uint8
		wantPanicText string
	}{
		{"time 0", 0, 32, 1, "rounds"},
		{"threads 0", 1, 32, 0, "parallelism"},
		{"keyLen 0", 1, 0, 1, "key length"},
	} {
		var m Memory
		func() {
			defer func() {
				if p, _ := recover().(string); !bytes.Contains([]byte(p), []byte(c.wantPanicText)) {
					t.Errorf("%s: panic %q, want one about %s", c.name, p, c.wantPanicText)
				}
			}()
			m.IDKey([]byte("pw"), []byte("saltsalt"), c.time, 64, c.threads, c.keyLen)
		}()
		// The failed call left the Memory free for the next one.
		if got := m.IDKey([]byte("pw"), []byte("saltsalt"), 1, 64, 1, 16); len(got) != 16 {
			t.Errorf("%s: Memory unusable afterwards", c.name)
		}
	}
}

func TestSizeAndRelease(t *testing.T) {
	var m Memory
	if m.Size() != 0 {
		t.Fatalf("zero Memory holds %d bytes", m.Size())
	}
	m.IDKey([]byte("pw"), []byte("saltsalt"), 1, 1027, 2, 32) // rounds to 1024
	if got, want := m.Size(), MemorySize(1027, 2); got != want || want != 1024*BlockSize {
		t.Errorf("Size %d after m=1027 p=2, MemorySize %d; want both %d", got, want, 1024*BlockSize)
	}
	m.IDKey([]byte("pw"), []byte("saltsalt"), 1, 64, 1, 32)
	if got := m.Size(); got != 1024*BlockSize {
		t.Errorf("Size %d after a smaller derivation; the array should have been kept (%d)", got, 1024*BlockSize)
	}
	if got := MemorySize(3, 2); got != 16*BlockSize {
		t.Errorf("MemorySize(3, 2) = %d, want the 8 KiB per lane minimum %d", got, 16*BlockSize)
	}
	m.Release()
	if m.Size() != 0 {
		t.Errorf("Size %d after Release", m.Size())
	}
}

// TestWarmMemoryAllocatesLittle checks the point of the package: with a
// Memory that already holds enough blocks, a derivation allocates bytes,
// not the array.
func TestWarmMemoryAllocatesLittle(t *testing.T) {
	var m Memory
	const memory = 4096 // 4 MiB
	m.IDKey([]byte("pw"), []byte("saltsalt"), 1, memory, 1, 32)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	const runs = 5
	for range runs {
		m.IDKey([]byte("pw"), []byte("saltsalt"), 1, memory, 1, 32)
	}
	runtime.ReadMemStats(&after)
	if per := (after.TotalAlloc - before.TotalAlloc) / runs; per > 64<<10 {
		t.Errorf("a derivation with a warm Memory allocated %d bytes; want well under the %d of its array", per, memory*BlockSize)
	}
}

func BenchmarkIDKey(b *testing.B) {
	password, salt := []byte("correct horse battery staple"), []byte("0123456789abcdef")
	b.Run("reused Memory", func(b *testing.B) {
		var m Memory
		m.IDKey(password, salt, 2, 19*1024, 1, 32) // make the array once
		b.ReportAllocs()
		for b.Loop() {
			m.IDKey(password, salt, 2, 19*1024, 1, 32)
		}
	})
	b.Run("x/crypto", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			xargon2.IDKey(password, salt, 2, 19*1024, 1, 32)
		}
	})
}

// TestBlake2bHashMatchesStream checks the stack-buffer H' against
// x/crypto's streaming one, kept as blake2bHashStream, over output lengths
// on both sides of 32 and 64 bytes and inputs of every size up to past
// the buffer.
func TestBlake2bHashMatchesStream(t *testing.T) {
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 2))
	for i := range 2000 {
		in := randomBytes(r, BlockSize+200)
		outLen := 1 + r.IntN(300)
		if i < 8 {
			outLen = []int{31, 32, 33, 63, 64, 65, 96, BlockSize}[i]
		}
		got, want := make([]byte, outLen), make([]byte, outLen)
		blake2bHash(got, in)
		blake2bHashStream(want, in)
		if !bytes.Equal(got, want) {
			t.Fatalf("H'^%d of %d bytes: %x, want %x", outLen, len(in), got, want)
		}
	}
}
