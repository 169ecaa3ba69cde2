package blocks

import (
	"context"
	"sync"
	"time"

	"github.com/synguard/synguard/internal/policy"
)

// maxBatchAlerts bounds the alerts one batch decides under the ledger's
// lock (at least one whole notification): a batch holds the lock for its
// decisions and its one save, so the driver's Take and an operator's
// request wait at most that long.
const maxBatchAlerts = 4096

// notification is one HandleAlerts call waiting for its batch.
type notification struct {
	alerts []policy.Alert
	res    Result
	err    error
	// done is closed once res and err are set; lead is closed when this
	// call is to run the next batch.
	done, lead chan struct{}
}

// combiner is the group commit of notifications: while one batch is
// decided and saved, the notifications that arrive wait in queue, and the
// next batch takes them all: one save (one fsync) and one hand-over to the
// driver for many notifications, each still answered only once its
// change is durable. One batch runs at a time.
type combiner struct {
	mu      sync.Mutex
	queue   []*notification
	running bool
	// last and prev are when the last two notifications arrived.
	last, prev time.Time
}

// HandleAlerts applies one notification's alerts: each is decided by
// policy.Admit, and every resulting change is saved before any firewall
// call; the firewall follows through the driver. Notifications that
// arrive together are decided in order as one batch and saved in one
// write, so the save (and the work handed to the driver) is shared; an
// error means the batch's save failed and nothing of this notification
// (nor of the others in its batch, whose decisions may build on it) was
// changed.
func (l *Ledger) HandleAlerts(_ context.Context, alerts []policy.Alert) (Result, error) {
	n := &notification{alerts: alerts, done: make(chan struct{}), lead: make(chan struct{})}
	cb := &l.combine
	cb.mu.Lock()
	cb.queue = append(cb.queue, n)
	cb.prev, cb.last = cb.last, time.Now()
	if cb.running {
		cb.mu.Unlock()
		select {
		case <-n.done:
			return n.res, n.err
		case <-n.lead:
			// The previous batch is done and n is first in the queue.
		}
	} else {
		cb.running = true
		cb.mu.Unlock()
	}
	cb.mu.Lock()
	batch := cb.takeLocked()
	cb.mu.Unlock()
	l.handleBatch(batch)
	for _, m := range batch {
		if m != n {
			close(m.done)
		}
	}
	cb.mu.Lock()
	if len(cb.queue) > 0 {
		close(cb.queue[0].lead)
	} else {
		cb.running = false
	}
	cb.mu.Unlock()
	return n.res, n.err
}

// takeLocked removes the next batch from the queue: whole notifications,
// up to maxBatchAlerts alerts unless the first alone holds more.
func (cb *combiner) takeLocked() []*notification {
	n, alerts := 0, 0
	for n < len(cb.queue) && (n == 0 || alerts+len(cb.queue[n].alerts) <= maxBatchAlerts) {
		alerts += len(cb.queue[n].alerts)
		n++
	}
	batch := cb.queue[:n:n]
	cb.queue = cb.queue[n:]
	if len(cb.queue) == 0 {
		cb.queue = nil
	}
	return batch
}

// quietGap is the pause in arrivals that ends a burst of notifications.
// Senders that wait for their answer before they send again (Alertmanager
// with a connection per group) leave the queue empty for a moment after
// each batch: an empty queue alone does not end a burst.
const quietGap = 25 * time.Millisecond

// WaitQuiet returns once a burst of notifications has ended (none queued
// or being decided, none arrived for quietGap), after at most limit, or
// when ctx ends. A notification that follows the previous one by more than
// quietGap is no burst: the driver takes its work at once. The driver calls
// it before it takes work: a firewall whose call costs the size of the
// whole set (firewalld's setEntries) is better asked once for a burst than
// once per batch of it, which would leave a call of the whole set in flight
// when the burst's last notification arrives.
func (l *Ledger) WaitQuiet(ctx context.Context, limit time.Duration) {
	deadline := time.Now().Add(limit)
	// Bounded: each round sleeps at least until the deadline or quietGap
	// after the last arrival.
	for {
		now := time.Now()
		wait := l.combine.busy(now)
		if wait <= 0 || !now.Before(deadline) {
			return
		}
		t := time.NewTimer(min(wait, deadline.Sub(now)))
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return
		}
	}
}

// busy returns how long to wait before a burst may have ended; 0: none is
// under way.
func (cb *combiner) busy(now time.Time) time.Duration {
	cb.mu.Lock()
	defer cb.mu.Unlock()
	since := now.Sub(cb.last)
	switch {
	case len(cb.queue) > 0 || cb.running:
		return quietGap
	case cb.last.Sub(cb.prev) >= quietGap || since >= quietGap:
		return 0
	}
	return quietGap - since
}

// handleBatch decides every notification of batch, in order, into one
// change and saves it once: each gets its own Result, or the save's
// error.
func (l *Ledger) handleBatch(batch []*notification) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	v := &view{l: l, now: now}
	c := l.newChange()
	made := 0
	for _, n := range batch {
		var m int
		n.res, m = l.decideLocked(c, v, n.alerts)
		made += m
	}
	l.m.batches.Observe(float64(len(batch)))
	if err := c.commit(); err != nil {
		l.m.actions.WithLabelValues(ActionBlock, ResultFailed).Add(float64(made))
		for _, n := range batch {
			n.res, n.err = Result{}, err
		}
	}
}
