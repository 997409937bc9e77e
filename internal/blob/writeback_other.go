//go:build !linux

package blob

import "os"

// startWriteback is a no-op where sync_file_range(2) does not exist; the
// fsync in SyncPending does all the work.
func startWriteback(*os.File) {}
