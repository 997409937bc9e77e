package web

import (
	"sync"
	"time"
)

// limiter allows at most max events per key in any window (a sliding
// log). It lives in one process: with several web processes each applies
// the limit on its own.
type limiter struct {
	max    int
	window time.Duration
	now    func() time.Time

	mu     sync.Mutex
	events map[string][]time.Time
}

func newLimiter(max int, window time.Duration, now func() time.Time) *limiter {
	return &limiter{max: max, window: window, now: now, events: map[string][]time.Time{}}
}

// allow records an event for key and reports whether it is within the
// limit; when it is not, it says when to retry and records nothing.
func (l *limiter) allow(key string) (ok bool, retryAfter time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	ev := l.prune(key, now)
	if len(ev) >= l.max {
		return false, ev[0].Add(l.window).Sub(now)
	}
	l.events[key] = append(ev, now)
	if len(l.events) > 100000 {
		l.gc(now)
	}
	return true, 0
}

// blocked reports whether key has used up its events, without recording
// one.
func (l *limiter) blocked(key string) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	ev := l.prune(key, now)
	if len(ev) >= l.max {
		return true, ev[0].Add(l.window).Sub(now)
	}
	return false, 0
}

// record adds an event for key without checking.
func (l *limiter) record(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	l.events[key] = append(l.prune(key, now), now)
}

// reset forgets key (after a successful login).
func (l *limiter) reset(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.events, key)
}

func (l *limiter) prune(key string, now time.Time) []time.Time {
	ev := l.events[key]
	i := 0
	for i < len(ev) && !ev[i].After(now.Add(-l.window)) {
		i++
	}
	ev = ev[i:]
	if len(ev) == 0 {
		delete(l.events, key)
		return nil
	}
	l.events[key] = ev
	return ev
}

// gc drops every key with no event in the window, so a flood of distinct
// keys cannot grow the map without bound.
func (l *limiter) gc(now time.Time) {
	for k := range l.events {
		l.prune(k, now)
	}
}
