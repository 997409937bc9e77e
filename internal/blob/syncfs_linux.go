//go:build linux

package blob

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// newFSSync returns a function that makes everything written to the
// filesystem holding root durable with one syncfs(2): one journal commit
// and one cache flush for a whole group of new files and their directory
// entries, where an fsync per file costs a flush each (four new 5 KB files
// took 0.68 ms with concurrent fsyncs and 0.33 ms with syncfs on ext4
// here; eight took 1.29 ms and 0.37 ms). It returns nil where syncfs
// cannot be trusted: before Linux 5.8 it did not report writeback errors,
// so a failed write could pass for durable.
func newFSSync(root string) (func() error, uint64) {
	var st unix.Stat_t
	if err := unix.Stat(root, &st); err != nil {
		return nil, 0
	}
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil || !kernelAtLeast(unix.ByteSliceToString(u.Release[:]), 5, 8) {
		return nil, 0
	}
	return func() error {
		f, err := os.Open(root)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := unix.Syncfs(int(f.Fd())); err != nil {
			return fmt.Errorf("syncfs %s: %w", root, err)
		}
		return nil
	}, uint64(st.Dev)
}

// kernelAtLeast reports whether a kernel release such as "6.1.0-18-amd64"
// is at least major.minor.
func kernelAtLeast(release string, major, minor int) bool {
	parts := strings.SplitN(release, ".", 3)
	if len(parts) < 2 {
		return false
	}
	ma, err1 := strconv.Atoi(parts[0])
	digits := parts[1]
	if i := strings.IndexFunc(digits, func(r rune) bool { return r < '0' || r > '9' }); i >= 0 {
		digits = digits[:i]
	}
	mi, err2 := strconv.Atoi(digits)
	if err1 != nil || err2 != nil {
		return false
	}
	return ma > major || ma == major && mi >= minor
}

// deviceOf returns the device of an open file, or false.
func deviceOf(f *os.File) (uint64, bool) {
	fi, err := f.Stat()
	if err != nil {
		return 0, false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return uint64(st.Dev), true
}
