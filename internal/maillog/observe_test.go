package maillog

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

// Every Log call reaches every observer exactly once, with the entry as
// logged (zero time filled in), also when the write fails.
func TestObserveOncePerEntry(t *testing.T) {
	var sb strings.Builder
	w := New(&sb)
	w.now = func() time.Time { return t0 }
	var mu sync.Mutex
	var seen []Entry
	second := 0
	w.Observe(func(e Entry) { mu.Lock(); seen = append(seen, e); mu.Unlock() })
	w.Observe(func(Entry) { mu.Lock(); second++; mu.Unlock() })

	var wg sync.WaitGroup
	for i := 0; i < 40; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := w.Log(Entry{Tier: "smtp-out", QueueID: "q1", Rcpt: "a@example.net", DSN: "2.0.0", Stat: "Sent"}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	lines := strings.Count(sb.String(), "\n")
	if lines != 40 || len(seen) != 40 || second != 40 {
		t.Fatalf("lines %d, first observer %d, second %d; want 40 each", lines, len(seen), second)
	}
	if !seen[0].Time.Equal(t0) {
		t.Errorf("observer saw time %v, want the filled-in %v", seen[0].Time, t0)
	}

	f := New(failWriter{})
	n := 0
	f.Observe(func(Entry) { n++ })
	if err := f.Log(Entry{Tier: "smtp-in", QueueID: "q2", Stat: "Deferred", DSN: "4.3.0"}); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("failed write: %v", err)
	}
	if n != 1 {
		t.Errorf("observer called %d times after a failed write, want 1", n)
	}
}
