package blob

import (
	"os"
	"syscall"
)

// startWriteback asks the kernel to start writing f's data to disk now,
// without waiting (sync_file_range(2) with SYNC_FILE_RANGE_WRITE), so
// that the fsync that follows, in SyncPending, mostly finds the data
// already written and only waits for the journal commit. It is a hint:
// durability still comes from that fsync alone, and errors are ignored
// (the fsync reports them).
func startWriteback(f *os.File) {
	const syncFileRangeWrite = 2 // SYNC_FILE_RANGE_WRITE
	_, _, _ = syscall.Syscall6(syscall.SYS_SYNC_FILE_RANGE, f.Fd(), 0, 0, syncFileRangeWrite, 0, 0)
}
