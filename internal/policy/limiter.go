package policy

import "time"

// Limiter is a token bucket for new blocks: Burst blocks at once, then
// RatePerMinute. The caller passes the time, so tests need no clock.
type Limiter struct {
	tokens float64
	last   time.Time
}

// Allow takes a token for a new block at now and reports whether there was
// one. rate is per minute.
func (l *Limiter) Allow(now time.Time, rate float64, burst int) bool {
	if l.last.IsZero() {
		l.tokens = float64(burst)
	} else if d := now.Sub(l.last); d > 0 {
		l.tokens += d.Minutes() * rate
	}
	if l.tokens > float64(burst) {
		l.tokens = float64(burst)
	}
	l.last = now
	if l.tokens < 1 {
		return false
	}
	l.tokens--
	return true
}
