//go:build !linux

package blob

import "os"

// newFSSync returns nil: only Linux has syncfs(2); elsewhere each file and
// directory is fsynced.
func newFSSync(string) (func() error, uint64) { return nil, 0 }

func deviceOf(*os.File) (uint64, bool) { return 0, false }
