package smtpin

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/cabalmail/cabalmail/internal/store"
)

// TempfailKey is the store setting that holds the tempfail switch: an
// RFC 3339 time until which it is on, or "forever".
const TempfailKey = "inbound.tempfail_until"

const tempfailForever = "forever"

// SetTempfail turns the switch on until the given time, or with no end if
// until is zero. Every smtp-in process sharing the store sees it within
// tempfailCacheFor.
func SetTempfail(ctx context.Context, st store.Settings, until time.Time) error {
	v := tempfailForever
	if !until.IsZero() {
		v = until.UTC().Format(time.RFC3339)
	}
	if err := st.SetSetting(ctx, TempfailKey, v); err != nil {
		return fmt.Errorf("smtpin: set tempfail: %w", err)
	}
	return nil
}

// ClearTempfail turns the switch off.
func ClearTempfail(ctx context.Context, st store.Settings) error {
	err := st.DeleteSetting(ctx, TempfailKey)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("smtpin: clear tempfail: %w", err)
	}
	return nil
}

// TempfailState is the switch as read from the store.
type TempfailState struct {
	On    bool
	Until time.Time // zero when on forever or off
}

func (s TempfailState) String() string {
	switch {
	case !s.On:
		return "off"
	case s.Until.IsZero():
		return "on (no end)"
	}
	return "on until " + s.Until.UTC().Format(time.RFC3339)
}

// ReadTempfail reads the switch at now. An expired or unreadable setting
// is off; an unreadable one is also an error, so the caller can say so.
func ReadTempfail(ctx context.Context, st store.Settings, now time.Time) (TempfailState, error) {
	v, err := st.Setting(ctx, TempfailKey)
	if errors.Is(err, store.ErrNotFound) {
		return TempfailState{}, nil
	}
	if err != nil {
		return TempfailState{}, fmt.Errorf("smtpin: read tempfail: %w", err)
	}
	if v == tempfailForever {
		return TempfailState{On: true}, nil
	}
	until, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return TempfailState{}, fmt.Errorf("smtpin: tempfail setting %q is neither an RFC 3339 time nor %q", v, tempfailForever)
	}
	if !now.Before(until) {
		return TempfailState{}, nil
	}
	return TempfailState{On: true, Until: until}, nil
}

// tempfailCacheFor is how long a read of the switch is reused.
const tempfailCacheFor = time.Second

// tempfailCache keeps the last read of the switch for tempfailCacheFor.
type tempfailCache struct {
	st store.Settings

	mu     sync.Mutex
	readAt time.Time
	state  TempfailState
	err    error
}

// get returns the switch, reading the store when the cached value is
// older than tempfailCacheFor.
func (c *tempfailCache) get(ctx context.Context) (TempfailState, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	if now.Sub(c.readAt) < tempfailCacheFor && c.err == nil {
		if c.state.On && !c.state.Until.IsZero() && !now.Before(c.state.Until) {
			c.state = TempfailState{}
		}
		return c.state, nil
	}
	c.state, c.err = ReadTempfail(ctx, c.st, now)
	c.readAt = now
	return c.state, c.err
}
