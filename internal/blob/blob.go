// Package blob stores message bodies and spooled queue items (DESIGN.md §3):
// opaque byte strings under random keys. The metadata store keeps the keys;
// this package keeps the bytes.
//
// Store is the narrow interface every backend implements; Dir is the default
// backend, files on the local filesystem. The interface is small on purpose,
// so an S3-compatible backend can be added beside Dir.
//
// Keys are 128 random bits in hex, not content hashes: identical messages
// sent to two users are stored twice, so no one can learn, by timing or by
// sizes, that someone else holds the same message.
//
// # Durability and group commit
//
// Put returns only once the blob is on stable storage (file fsynced, renamed
// into place, directory fsynced), so a caller may then commit the index row
// that names the key and answer 250. Batching many messages into one fsync
// (group commit) is the callers' business, done where the index rows are
// committed. With any Store they can run their Puts concurrently (each
// costs two fsyncs) and commit all the rows in one transaction. Dir also
// offers a batch-friendly form (pending.go): PutPending writes a blob
// without fsync, and SyncPending makes a whole group durable at once
// before the caller commits the rows naming them: on Linux 5.8 or later
// with one syncfs(2) of the filesystem (one journal commit and one device
// flush for all the files and their directory entries), elsewhere or for
// a single blob by fsyncing the files concurrently and each directory once. Put itself holds no lock across I/O, so
// concurrent Puts do not wait for each other.
//
// A crash between Put and the index commit leaves a blob no row names;
// Dir.Walk lists blobs so a sweeper can remove such orphans.
package blob

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
)

// Store keeps blobs under keys it chooses.
type Store interface {
	// Put stores everything read from r and returns its new key and size.
	// The blob is durable when Put returns without error.
	Put(ctx context.Context, r io.Reader) (key string, size int64, err error)
	// Open returns a reader of the blob under key, or an error wrapping
	// ErrNotFound. Keys not in the store's format are refused with ErrBadKey.
	Open(ctx context.Context, key string) (Reader, error)
	// Delete removes the blob under key, or returns an error wrapping
	// ErrNotFound if there is none.
	Delete(ctx context.Context, key string) error
}

// Reader reads one blob. Random access (ReadAt, Seek) serves IMAP partial
// fetches without reading the whole body.
type Reader interface {
	io.ReadSeekCloser
	io.ReaderAt
	Size() int64
}

// Errors returned (wrapped) by every Store.
var (
	ErrNotFound = errors.New("blob not found")
	ErrBadKey   = errors.New("malformed blob key")
)

// keyBytes is the number of random bytes in a key; keys are twice as many
// lower-case hex digits.
const keyBytes = 16

// newKey returns a fresh random key.
func newKey() (string, error) {
	var b [keyBytes]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("random key: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// ValidKey reports whether key has the form of a key Put returns: exactly 32
// lower-case hex digits. Anything else (path separators, dots, upper case)
// is refused before it gets near the filesystem.
func ValidKey(key string) bool {
	if len(key) != 2*keyBytes {
		return false
	}
	for i := 0; i < len(key); i++ {
		c := key[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
