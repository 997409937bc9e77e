// Copyright 2017 The Go Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package argon2

import (
	"encoding/binary"
	"hash"

	"golang.org/x/crypto/blake2b"
)

// blake2bHash computes H' of RFC 9106 3.3, the variable-length hash, of in
// and writes it to out.
//
// Unlike x/crypto's, it hashes from a buffer on the stack with the
// allocation-free blake2b.Sum512 and Sum256 for the inputs of this package
// (at most one 1 KiB block), so that a derivation does not allocate a
// BLAKE2b state for every block it starts from. Only an output of a length
// other than 32 or 64 bytes, in the last step, takes a state of its own.
func blake2bHash(out []byte, in []byte) {
	var buf [4 + BlockSize]byte
	if len(in) > BlockSize {
		blake2bHashStream(out, in) // not reached from this package
		return
	}
	binary.LittleEndian.PutUint32(buf[:4], uint32(len(out)))
	msg := buf[:4+copy(buf[4:], in)]
	if len(out) <= blake2b.Size {
		// H'^T(A) = H^T(LE32(T)||A) for T <= 64.
		blake2bSum(out, msg)
		return
	}
	// V1 = H^64(LE32(T)||A), V(i) = H^64(V(i-1)); the output is the first
	// 32 bytes of each, then the whole of a last hash of the bytes left.
	v := blake2b.Sum512(msg)
	copy(out, v[:32])
	out = out[32:]
	for len(out) > blake2b.Size {
		v = blake2b.Sum512(v[:])
		copy(out, v[:32])
		out = out[32:]
	}
	blake2bSum(out, v[:])
}

// blake2bSum writes the BLAKE2b hash of in with len(out) bytes of output,
// 1 to 64, to out.
func blake2bSum(out, in []byte) {
	switch len(out) {
	case blake2b.Size:
		sum := blake2b.Sum512(in)
		copy(out, sum[:])
	case blake2b.Size256:
		sum := blake2b.Sum256(in)
		copy(out, sum[:])
	default:
		b2, _ := blake2b.New(len(out), nil)
		b2.Write(in)
		b2.Sum(out[:0])
	}
}

// blake2bHashStream is x/crypto's blake2bHash, unchanged, for inputs too
// long for blake2bHash's buffer.
func blake2bHashStream(out []byte, in []byte) {
	var b2 hash.Hash
	if n := len(out); n < blake2b.Size {
		b2, _ = blake2b.New(n, nil)
	} else {
		b2, _ = blake2b.New512(nil)
	}

	var buffer [blake2b.Size]byte
	binary.LittleEndian.PutUint32(buffer[:4], uint32(len(out)))
	b2.Write(buffer[:4])
	b2.Write(in)

	if len(out) <= blake2b.Size {
		b2.Sum(out[:0])
		return
	}

	outLen := len(out)
	b2.Sum(buffer[:0])
	b2.Reset()
	copy(out, buffer[:32])
	out = out[32:]
	for len(out) > blake2b.Size {
		b2.Write(buffer[:])
		b2.Sum(buffer[:0])
		copy(out, buffer[:32])
		out = out[32:]
		b2.Reset()
	}

	if outLen%blake2b.Size > 0 { // outLen > 64
		r := ((outLen + 31) / 32) - 2 // ⌈τ /32⌉-2
		b2, _ = blake2b.New(outLen-32*r, nil)
	}
	b2.Write(buffer[:])
	b2.Sum(out[:0])
}
