package policy

import (
	"testing"
	"time"
)

// TestLimiterReload: a reloaded rate or burst applies from the call that
// brings it on,
// without refilling the bucket (a reload is not a way around the limit),
// and a clock that steps back allows nothing extra.
func TestLimiterReload(t *testing.T) {
	var l Limiter
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	for i := range 2 {
		if !l.Allow(now, 60, 2) {
			t.Fatalf("burst token %d refused", i+1)
		}
	}
	if l.Allow(now, 60, 10) {
		t.Fatal("a larger burst refilled the bucket at once")
	}
	// 600 per minute from +150ms on: what accrued before the change came at
	// the old rate (0.15 of a token), then a token every 100 ms.
	if l.Allow(now.Add(150*time.Millisecond), 600, 10) {
		t.Fatal("the faster rate applied to the time before the reload")
	}
	if !l.Allow(now.Add(300*time.Millisecond), 600, 10) {
		t.Fatal("the faster rate did not apply after the reload")
	}
	if l.Allow(now.Add(-time.Minute), 600, 10) {
		t.Fatal("a clock stepping back allowed a token")
	}
}
