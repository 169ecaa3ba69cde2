package policy

import (
	"time"

	"golang.org/x/time/rate"
)

// Limiter bounds how fast new blocks are made: Burst blocks at once, then
// RatePerMinute. It is golang.org/x/time/rate's token bucket driven with
// the caller's time (AllowN(now, 1)), so tests need no clock. The zero
// Limiter is ready: the first Allow fills the bucket.
type Limiter struct {
	l     *rate.Limiter
	rate  float64
	burst int
}

// Allow takes a token for a new block at now and reports whether there was
// one. rate is per minute. A rate or burst that differs from the previous
// call's (a reloaded policy) applies from now on, keeping the tokens saved.
func (l *Limiter) Allow(now time.Time, perMinute float64, burst int) bool {
	limit := rate.Limit(perMinute / 60)
	switch {
	case l.l == nil:
		l.l = rate.NewLimiter(limit, burst)
	case perMinute != l.rate || burst != l.burst:
		l.l.SetLimitAt(now, limit)
		l.l.SetBurstAt(now, burst)
	}
	l.rate, l.burst = perMinute, burst
	return l.l.AllowN(now, 1)
}
