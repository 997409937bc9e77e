package queue

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/cabalmail/cabalmail/internal/config"
)

// PolicyOf returns the retry schedule of the [outbound] section
// (retry_first, retry_max, delay_notice, give_up).
func PolicyOf(o config.Outbound) RetryPolicy {
	return RetryPolicy{First: time.Duration(o.RetryFirst), Max: time.Duration(o.RetryMax),
		DelayNotice: time.Duration(o.DelayNotice), GiveUp: time.Duration(o.GiveUp)}
}

func (p RetryPolicy) withDefaults() RetryPolicy {
	if p.First == 0 {
		p.First = DefaultFirst
	}
	if p.Max == 0 {
		p.Max = DefaultMax
	}
	if p.DelayNotice == 0 {
		p.DelayNotice = DefaultDelayNotice
	}
	if p.GiveUp == 0 {
		p.GiveUp = DefaultGiveUp
	}
	return p
}

func (p RetryPolicy) check() error {
	switch {
	case p.First < 0 || p.Max < 0 || p.DelayNotice < 0 || p.GiveUp < 0:
		return fmt.Errorf("%w retry policy: negative duration", ErrInvalid)
	case p.Max < p.First:
		return fmt.Errorf("%w retry policy: maximum backoff %s is below the first retry %s", ErrInvalid, p.Max, p.First)
	}
	return nil
}

// Backoff returns the wait before the next attempt after the given number
// of attempts (1 after the first): First, doubling each time, capped at
// Max, with up to 10% of random jitter taken off so that messages deferred
// together do not all come back at the same instant.
func (p RetryPolicy) Backoff(attempts int) time.Duration {
	d := p.First
	for i := 1; i < attempts && d < p.Max; i++ {
		d *= 2
	}
	if d > p.Max {
		d = p.Max
	}
	if j := int64(d / 10); j > 0 {
		d -= time.Duration(rand.Int64N(j))
	}
	return d
}
