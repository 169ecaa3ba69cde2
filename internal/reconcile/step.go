package reconcile

import (
	"context"
	"errors"
	"time"

	"github.com/synguard/synguard/internal/firewall"
)

// step makes one round of backend calls for what is due: a Prepare when the
// backend needs one, then either a full Sync or the ledger's queued adds and
// removals.
func (d *Driver) step(ctx context.Context) {
	d.mu.Lock()
	seq := d.reqSeq
	prepare, sync, reloaded := d.needPrepare, d.needSync, d.reloaded
	d.needPrepare, d.needSync, d.reloaded = false, false, false
	d.mu.Unlock()

	if !prepare && !sync {
		// While notifications keep arriving, wait for the burst to end
		// (at most Settle) before taking the work: a call costs the
		// backend what the whole set costs (firewalld's setEntries), so
		// a call made in the middle of a burst is one more of the whole
		// set, most likely still in flight when the burst ends.
		d.Ledger.WaitQuiet(ctx, d.opts.Settle)
	}
	d.expire()
	d.Ledger.ApplyWaiting(d.now())
	work := d.Ledger.Take()
	var err error
	op := ""
	resync := false
	repairs := 0
	if prepare {
		op = opPrepare
		held := d.Ledger.Held()
		if err = d.timed(opPrepare, -1, func() error { return d.fw.Prepare(ctx, held) }); err == nil {
			sync = true
		}
	}
	switch {
	case err != nil:
	case sync:
		op = opSync
		desired, owned := d.Ledger.Desired()
		var res firewall.SyncResult
		err = d.timed(opSync, len(desired)+len(owned), func() (err error) { res, err = d.fw.Sync(ctx, desired, owned); return err })
		if err == nil {
			d.countRefused(opSync, res.Results)
			d.Ledger.Confirm(res.Results)
			// What the sync changed beyond the queued work was lost or
			// left behind: a repair.
			repairs = max(0, res.Added-len(work.Add)) + max(0, res.Removed-len(work.Remove))
		}
	default:
		var rs []firewall.Result
		if len(work.Add) > 0 {
			op = opAdd
			err = d.timed(opAdd, len(work.Add), func() (err error) { rs, err = d.fw.Add(ctx, work.Add); return err })
			if err == nil {
				d.countRefused(opAdd, rs)
				d.Ledger.Confirm(rs)
				work.Add = nil
			}
		}
		if err == nil && len(work.Remove) > 0 {
			op = opRemove
			err = d.timed(opRemove, len(work.Remove), func() (err error) { rs, err = d.fw.Remove(ctx, work.Remove); return err })
			if err == nil {
				d.countRefused(opRemove, rs)
				resync = d.Ledger.Confirm(rs)
				work.Remove = nil
			}
		}
	}

	if err != nil {
		// Back to the ledger before the driver's lock: the ledger's lock is
		// never taken under it.
		d.Ledger.Requeue(work)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if op == "" {
		d.finishLocked(seq, nil)
		return
	}
	if err != nil {
		// The retry's sync still follows the reload.
		d.reloaded = d.reloaded || reloaded
		d.failLocked(seq, op, err, prepare && op == opPrepare)
		return
	}
	if !d.up {
		d.logger.Info("firewall backend answers; blocks are in place", "backend", d.desc.String(), "op", op)
	}
	d.setUpLocked(true, "")
	d.backoff, d.retryAt = 0, time.Time{}
	if sync {
		if repairs > 0 {
			d.m.repairs.Add(float64(repairs))
			if reloaded {
				d.m.reloadRepairs.Add(float64(repairs))
			}
			d.logger.Info("reconcile repaired the firewall", "backend", d.desc.String(), "repairs", repairs)
		}
		d.lastSync = d.now()
		d.m.lastSync.Set(float64(d.lastSync.UnixNano()) / 1e9)
	}
	if resync && !d.needSync {
		// A removed prefix may have carried narrower active blocks (a set
		// keeping a minimal cover): put them back.
		d.needSync = true
		d.wakeLocked()
	}
	d.finishLocked(seq, nil)
}

// timed makes one backend call, counting its duration and the n prefixes
// it was handed (n < 0: a call without prefixes).
func (d *Driver) timed(op string, n int, call func() error) error {
	t0 := time.Now()
	err := call()
	d.m.callDur.WithLabelValues(op).Observe(time.Since(t0).Seconds())
	if n >= 0 {
		d.m.callEntries.WithLabelValues(op).Observe(float64(n))
	}
	return err
}

// failLocked keeps what was not done for the retry (the work is already
// back in the ledger, where a newer change of the same prefix wins): the
// firewall's state is unknown so the retry compares it all, and the retry
// waits a backoff.
func (d *Driver) failLocked(seq uint64, op string, err error, prepareFailed bool) {
	d.m.errors.WithLabelValues(op).Inc()
	d.needPrepare = d.needPrepare || prepareFailed || errors.Is(err, firewall.ErrNotPrepared)
	d.needSync = true
	d.backoff = min(max(2*d.backoff, d.opts.MinBackoff), d.opts.MaxBackoff)
	d.retryAt = d.now().Add(d.backoff)
	d.setUpLocked(false, err.Error())
	d.logFailureLocked(op, err)
	d.finishLocked(seq, err)
}

// failureRepeatLog is how often a backend failure that recurs unchanged is
// logged again at ERROR (each retry in between logs at DEBUG; the metrics
// and the backend alert say it meanwhile).
const failureRepeatLog = 10 * time.Minute

// logFailureLocked logs a failed backend call: a new failure at ERROR,
// the same one again only after failureRepeatLog, with how often it
// recurred in between.
func (d *Driver) logFailureLocked(op string, err error) {
	msg, now := err.Error(), d.now()
	args := []any{"backend", d.desc.String(), "op", op, "retry_in", d.backoff, "err", err}
	if msg == d.said && now.Sub(d.saidAt) < failureRepeatLog {
		d.saidAgain++
		d.logger.Debug("firewall backend call failed again, as logged before", args...)
		return
	}
	if msg == d.said {
		args = append(args, "repeats", d.saidAgain)
	}
	d.said, d.saidAt, d.saidAgain = msg, now, 0
	d.logger.Error("firewall backend call failed; desired state kept, retrying", args...)
}

func (d *Driver) countRefused(op string, rs []firewall.Result) {
	if n := len(firewall.Failed(rs)); n > 0 {
		d.m.refused.WithLabelValues(op).Add(float64(n))
	}
}

func (d *Driver) finishLocked(seq uint64, err error) {
	d.lastErr = err
	if seq > d.doneSeq {
		d.doneSeq = seq
	}
	close(d.done)
	d.done = make(chan struct{})
}

// Backoff of expiries whose save failed: from a second up to a minute.
const (
	saveMinBackoff = time.Second
	saveMaxBackoff = time.Minute
)

// expire lifts the blocks that are due, unless an earlier save failed and
// its retry is not due yet: a full disk must not turn the loop into a spin
// of failed writes. Until the save succeeds the firewall keeps blocking.
func (d *Driver) expire() {
	now := d.now()
	d.mu.Lock()
	wait := now.Before(d.saveRetryAt)
	d.mu.Unlock()
	if wait {
		return
	}
	err := d.Ledger.Expire(now)
	d.mu.Lock()
	defer d.mu.Unlock()
	if err == nil {
		if d.saveBackoff > 0 {
			d.logger.Info("state file written again; expiries go on")
		}
		d.saveBackoff, d.saveRetryAt = 0, time.Time{}
		return
	}
	d.saveBackoff = min(max(2*d.saveBackoff, saveMinBackoff), saveMaxBackoff)
	d.saveRetryAt = now.Add(d.saveBackoff)
	d.logger.Error("save state after expiry; the due blocks stay in the firewall until it succeeds", "retry_in", d.saveBackoff, "err", err)
}
