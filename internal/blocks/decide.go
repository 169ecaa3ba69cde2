package blocks

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/synguard/synguard/internal/blockstore"
	"github.com/synguard/synguard/internal/origin"
	"github.com/synguard/synguard/internal/policy"
	"github.com/synguard/synguard/internal/prefix"
)

// Result is the answer to one notification's alerts.
type Result struct {
	// Blocked counts new blocks (or, in dry-run, blocks it would make).
	Blocked int `json:"blocked"`
	// Lifted counts blocks lifted or shortened on resolve.
	Lifted int `json:"lifted"`
	// Duplicates counts alerts that changed nothing.
	Duplicates int `json:"duplicates"`
	// Refused counts refused alerts by reason.
	Refused map[policy.Reason]int `json:"refused,omitempty"`
}

// ErrRefused wraps a policy refusal of an operator's request.
type ErrRefused struct{ Reason policy.Reason }

// Error implements error.
func (e *ErrRefused) Error() string { return "refused: " + string(e.Reason) }

var _ error = &ErrRefused{}

// ErrNotBlocked is returned by Unblock for a prefix without an active block.
var ErrNotBlocked = errors.New("prefix is not blocked")

// newBlock is the record of a new block decided by d, keeping what old
// remembers of the prefix's history.
func newBlock(d policy.Decision, old blockstore.Block, now time.Time) blockstore.Block {
	return blockstore.Block{
		Prefix: d.Prefix, Since: now, Expiry: d.Expiry, Offences: d.Offences, Origin: originRecord(d.Origin),
		// Installed before the call: a crash between the call and the
		// next save must never leave an entry nobody owns.
		Active: true, Installed: true, LastLifted: old.LastLifted, LiftReason: old.LiftReason,
	}
}

// originRecord is what a block keeps of an origin: nothing when unknown.
func originRecord(i origin.Info) *origin.Info {
	if !i.Known() {
		return nil
	}
	return &i
}

// decideLocked decides one notification's alerts into c (saved by the
// caller): its Result, and how many blocks it put in c, for the failure
// count.
func (l *Ledger) decideLocked(c *change, v *view, alerts []policy.Alert) (Result, int) {
	res := Result{Refused: map[policy.Reason]int{}}
	now := v.now
	made := 0 // blocks put in c, for the failure count
	for _, a := range alerts {
		d := l.pol.Admit(a, v)
		old, _ := l.store.Get(d.Prefix)
		switch d.Verdict {
		case policy.Refuse:
			// A cap full of blocks inside one range: the range in their
			// place frees the cap and covers this alert's prefix too.
			if d.Reason == policy.ReasonCapReached && a.Firing && l.widenLocked(c, v, d.Prefix, a.Name()) {
				l.unwaitLocked(d.Prefix)
				res.Blocked++
				made++
				continue
			}
			res.Refused[d.Reason]++
			l.refuseLocked(d.Reason, d.Prefix, policy.Clip(a.Name()))
			l.waitLocked(a, d, now)
		case policy.Ignore:
			l.unwaitLocked(d.Prefix)
			l.m.actions.WithLabelValues(ActionResolve, ResultIgnored).Inc()
		case policy.Duplicate:
			res.Duplicates++
			l.m.actions.WithLabelValues(ActionBlock, ResultDuplicate).Inc()
		case policy.Shorten:
			l.unwaitLocked(d.Prefix)
			nb := old
			nb.Expiry = d.Expiry
			if d.DryRun {
				l.record(ActionResolve, ResultDryRun, nb, "would_expire", d.Expiry.UTC().Format(time.RFC3339))
				continue
			}
			c.put(nb)
			res.Lifted++
			c.then(func() { l.record(ActionResolve, ResultOK, nb, "new_expiry", d.Expiry.UTC().Format(time.RFC3339)) })
			// The driver's expiry check lifts it when due.
			l.wakeLocked()
		case policy.Block:
			l.unwaitLocked(d.Prefix)
			nb := newBlock(d, old, now)
			nb.Source, nb.Alert, nb.Reason = blockstore.SourceAlert, policy.Clip(a.Name()), policy.Clip(a.Summary)
			res.Blocked++
			if d.DryRun {
				l.record(ActionBlock, ResultDryRun, nb)
				continue
			}
			c.block(nb)
			v.pending++
			made++
			c.then(func() { l.record(ActionBlock, ResultOK, nb) })
			l.widenLocked(c, v, nb.Prefix, a.Name())
		}
	}
	if len(res.Refused) == 0 {
		res.Refused = nil
	}
	return res, made
}

// Block blocks p at an operator's request, for d (0: the policy's duration
// for its offence number), as policy.AdmitRequest decides. It returns the
// block and whether it is new; an active block is extended if d reaches
// further.
func (l *Ledger) Block(ctx context.Context, p netip.Prefix, d time.Duration, reason string) (blockstore.Block, bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	dec := l.pol.AdmitRequest(p, d, &view{l: l, now: now})
	old, _ := l.store.Get(dec.Prefix)
	var nb blockstore.Block
	var extra []any
	switch dec.Verdict {
	case policy.Refuse:
		l.refuseLocked(dec.Reason, dec.Prefix, "operator")
		return blockstore.Block{}, false, &ErrRefused{dec.Reason}
	case policy.Duplicate:
		l.m.actions.WithLabelValues(ActionBlock, ResultDuplicate).Inc()
		return old, false, nil
	case policy.Extend:
		nb = old
		nb.Expiry = dec.Expiry
		extra = []any{"extend", true}
	default: // policy.Block
		nb = newBlock(dec, old, now)
		nb.Source, nb.Reason = blockstore.SourceManual, policy.Clip(reason)
	}
	isNew := dec.Verdict == policy.Block
	if dec.DryRun {
		l.record(ActionBlock, ResultDryRun, nb, extra...)
		return nb, isNew, nil
	}
	c := l.newChange()
	c.block(nb)
	if err := c.commit(); err != nil {
		l.m.actions.WithLabelValues(ActionBlock, ResultFailed).Inc()
		return blockstore.Block{}, false, err
	}
	l.record(ActionBlock, ResultOK, nb, extra...)
	return nb, isNew, nil
}

// Unblock lifts the active block of p at an operator's request. Its offences
// are remembered.
func (l *Ledger) Unblock(ctx context.Context, p netip.Prefix) (blockstore.Block, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	p = prefix.Canonical(p)
	old, exists := l.store.Get(p)
	if !exists || !old.Active {
		return blockstore.Block{}, ErrNotBlocked
	}
	if l.pol.DryRun {
		l.record(ActionUnblock, ResultDryRun, old)
		return old, nil
	}
	nb := l.lifted(old, blockstore.LiftManual)
	c := l.newChange()
	c.lift(nb)
	if err := c.commit(); err != nil {
		l.m.actions.WithLabelValues(ActionUnblock, ResultFailed).Inc()
		return blockstore.Block{}, err
	}
	l.record(ActionUnblock, ResultOK, nb)
	return nb, nil
}

// SetPaused sets the pause switch: while paused, alerts are acknowledged
// and change nothing; expiry, reconcile and the operator's requests go on.
func (l *Ledger) SetPaused(p bool) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.store.Paused() == p {
		return nil
	}
	l.store.SetPaused(p)
	if err := l.save(); err != nil {
		l.store.SetPaused(!p)
		return fmt.Errorf("save state: %w", err)
	}
	l.m.paused.Set(b2f(p))
	l.logger.Info("audit", "action", ActionPause, "paused", p)
	l.recent.action(l.now(), ActionPause, fmt.Sprint(p), netip.Prefix{}, "")
	return nil
}

// Purger removes owned entries and whatever a backend made for itself
// (firewall.Backend's Purge).
type Purger interface {
	Purge(ctx context.Context, owned []netip.Prefix) error
}

// Purge removes every block the responder owns from the firewall through fw
// and marks each lifted, for uninstall and emergencies. It returns how many
// it removed. The state is saved only after the firewall call succeeded, so
// a failed purge can simply be run again.
func (l *Ledger) Purge(ctx context.Context, fw Purger) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var owned []blockstore.Block
	var ps []netip.Prefix
	for _, b := range l.store.Blocks() {
		if b.Owned() {
			owned = append(owned, b)
			ps = append(ps, b.Prefix)
		}
	}
	if err := fw.Purge(ctx, ps); err != nil {
		return 0, fmt.Errorf("purge %d blocks: %w", len(ps), err)
	}
	c := l.newChange()
	for _, b := range owned {
		nb := b
		if b.Active {
			nb = l.lifted(b, blockstore.LiftPurged)
		}
		nb.Installed, nb.Applied = false, false
		c.put(nb)
		c.then(func() { l.record(ActionPurge, ResultOK, nb) })
	}
	// The firewall no longer holds them: nothing to queue.
	if err := c.commit(); err != nil {
		return 0, fmt.Errorf("purged from the firewall, but the state file was not updated: %w", err)
	}
	return len(owned), nil
}
