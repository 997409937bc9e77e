package benchutil

import (
	"os"
	"testing"
)

func TestMachineTicks(t *testing.T) {
	if _, err := os.Stat("/proc/stat"); err != nil {
		t.Skip("no /proc/stat")
	}
	busy0, total0 := MachineTicks()
	if total0 <= 0 || busy0 < 0 || busy0 > total0 {
		t.Fatalf("MachineTicks() = %d, %d", busy0, total0)
	}
	x := 0
	for i := 0; i < 50_000_000; i++ { // spend a few ticks
		x += i
	}
	_ = x
	busy, total := MachineTicks()
	if total < total0 || busy < busy0 {
		t.Errorf("ticks went back: %d/%d then %d/%d", busy0, total0, busy, total)
	}
}

func TestIdle(t *testing.T) {
	for _, c := range []struct {
		b0, t0, b, t int64
		want         bool
	}{
		{0, 0, 5, 100, true}, {0, 0, 10, 100, true}, {0, 0, 11, 100, false}, {50, 100, 50, 100, false}, {0, 0, 0, 0, false},
	} {
		if got := Idle(c.b0, c.t0, c.b, c.t); got != c.want {
			t.Errorf("Idle(%d, %d, %d, %d) = %v, want %v", c.b0, c.t0, c.b, c.t, got, c.want)
		}
	}
}
