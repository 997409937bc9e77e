// Package benchutil holds what the side-by-side benchmarks share to give
// both servers the same quiet machine: reading how busy the CPUs are, and
// waiting after a sync(2) until the kernel's writeback of the previous
// run's files is done. It is used by benchmarks and their tools only.
package benchutil

import (
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// MachineTicks returns the busy and total clock ticks of all CPUs so far,
// from /proc/stat (idle and iowait count as not busy); zeros where there
// is no /proc/stat.
func MachineTicks() (busy, total int64) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 6 || f[0] != "cpu" {
		return 0, 0
	}
	for i, v := range f[1:] {
		n, _ := strconv.ParseInt(v, 10, 64)
		total += n
		if i != 3 && i != 4 { // idle, iowait
			busy += n
		}
	}
	return busy, total
}

// Idle reports whether the CPUs were at least 90% idle between two
// MachineTicks readings.
func Idle(busy0, total0, busy, total int64) bool {
	return total > total0 && float64(busy-busy0) <= 0.1*float64(total-total0)
}

// SyncAndWaitIdle runs sync(2), then waits, at most max, until the
// machine has been 90% idle for a quarter of a second. It reports whether
// it saw the machine idle.
func SyncAndWaitIdle(max time.Duration) bool {
	syscall.Sync()
	busy0, total0 := MachineTicks()
	for start := time.Now(); time.Since(start) < max; {
		time.Sleep(250 * time.Millisecond)
		busy, total := MachineTicks()
		if Idle(busy0, total0, busy, total) {
			return true
		}
		busy0, total0 = busy, total
	}
	return false
}
