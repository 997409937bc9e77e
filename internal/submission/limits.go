package submission

import (
	"sync"
	"time"
)

// dailyCounter counts each user's accepted messages over the last 24
// hours, for the max_messages_per_day limit. It is kept in memory: every
// process that serves submission counts the messages it accepted itself.
type dailyCounter struct {
	limit int
	now   func() time.Time

	mu     sync.Mutex
	byUser map[int64][]time.Time
}

const day = 24 * time.Hour

// recent drops entries older than a day; mu must be held.
func (d *dailyCounter) recent(user int64) []time.Time {
	cut := d.now().Add(-day)
	ts := d.byUser[user]
	i := 0
	for i < len(ts) && !ts[i].After(cut) {
		i++
	}
	ts = ts[i:]
	if len(ts) == 0 {
		delete(d.byUser, user)
		return nil
	}
	d.byUser[user] = ts
	return ts
}

// full reports whether the user has reached the limit.
func (d *dailyCounter) full(user int64) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.recent(user)) >= d.limit
}

// reserve takes one message of the user's allowance, or reports false if
// none is left. A reservation whose message is not queued is given back
// with release.
func (d *dailyCounter) reserve(user int64) (time.Time, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	ts := d.recent(user)
	if len(ts) >= d.limit {
		return time.Time{}, false
	}
	t := d.now()
	d.byUser[user] = append(ts, t)
	return t, true
}

// release gives back a reservation made at t.
func (d *dailyCounter) release(user int64, t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	ts := d.byUser[user]
	for i := len(ts) - 1; i >= 0; i-- {
		if ts[i].Equal(t) {
			d.byUser[user] = append(ts[:i:i], ts[i+1:]...)
			return
		}
	}
}
