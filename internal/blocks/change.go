package blocks

import (
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/synguard/synguard/internal/blockstore"
	"github.com/synguard/synguard/internal/firewall"
	"github.com/synguard/synguard/internal/policy"
)

// record counts one action and writes its audit line and its entry in the
// recent actions: the one place that does, so that the three never differ.
func (l *Ledger) record(action, result string, b blockstore.Block, extra ...any) {
	l.m.actions.WithLabelValues(action, result).Inc()
	args := []any{"action", action, "result", result, "prefix", b.Prefix.String()}
	if action == ActionBlock && b.Active {
		args = append(args, "block_source", b.Source, "alert", b.Alert, "expiry", b.Expiry.UTC().Format(time.RFC3339), "offences", b.Offences)
	}
	l.logger.Info("audit", append(args, extra...)...)
	l.recent.action(l.now(), action, result, b.Prefix, "")
}

// refuseLocked counts a refusal and keeps it among the recent ones.
func (l *Ledger) refuseLocked(r policy.Reason, p netip.Prefix, detail string) {
	l.m.refused.WithLabelValues(string(r)).Inc()
	l.recent.refusal(l.now(), r, p, detail)
	if r == policy.ReasonAllowlisted || r == policy.ReasonTooBroad {
		l.logger.Warn("refused", "reason", r, "prefix", p.String(), "by", detail)
	}
}

// CountRefused counts n refusals that never reached the ledger (a
// notification's truncated alerts, a payload refused whole).
func (l *Ledger) CountRefused(r policy.Reason, n int) {
	l.m.refused.WithLabelValues(string(r)).Add(float64(n))
	l.mu.Lock()
	l.recent.refusal(l.now(), r, netip.Prefix{}, fmt.Sprintf("%d", n))
	l.mu.Unlock()
}

// change is one modification of the store, saved whole or undone whole:
// what it queues for the firewall and what it records happen only once the
// save succeeded.
type change struct {
	l      *Ledger
	before map[netip.Prefix]*blockstore.Block
	add    []firewall.Entry
	rm     []netip.Prefix
	// done runs after a successful save: counters and audit lines.
	done []func()
}

func (l *Ledger) newChange() *change {
	return &change{l: l, before: map[netip.Prefix]*blockstore.Block{}}
}

func (c *change) put(b blockstore.Block) {
	if _, seen := c.before[b.Prefix]; !seen {
		if old, ok := c.l.store.Get(b.Prefix); ok {
			c.before[b.Prefix] = &old
		} else {
			c.before[b.Prefix] = nil
		}
	}
	c.l.store.Put(b)
}

// block puts b, a new or extended active block, and queues it for the
// firewall.
func (c *change) block(b blockstore.Block) {
	c.put(b)
	c.add = append(c.add, firewall.Entry{Prefix: b.Prefix, Expiry: b.Expiry})
}

// lift puts b, just lifted, and queues its removal where the responder
// owns the entry.
func (c *change) lift(b blockstore.Block) {
	if old, seen := c.before[b.Prefix]; seen && (old == nil || !old.Owned()) {
		// Made and lifted in this one change (a block a widening covers at
		// once): never handed to the firewall, so nothing to remove.
		b.Installed = false
		c.add = slices.DeleteFunc(c.add, func(e firewall.Entry) bool { return e.Prefix == b.Prefix })
	}
	c.put(b)
	if b.Owned() {
		c.rm = append(c.rm, b.Prefix)
	}
}

// then runs f once the change is saved.
func (c *change) then(f func()) { c.done = append(c.done, f) }

// commit saves the store and queues the firewall work, or undoes every
// change if the save fails.
func (c *change) commit() error {
	l := c.l
	if len(c.before) == 0 {
		return nil
	}
	if err := l.save(); err != nil {
		for p, old := range c.before {
			if old == nil {
				l.store.Delete(p)
			} else {
				l.store.Put(*old)
			}
		}
		l.recountLocked()
		return fmt.Errorf("save state: %w", err)
	}
	l.pending.put(c.add, c.rm)
	for _, e := range c.add {
		if old := c.before[e.Prefix]; old == nil || !old.Owned() {
			l.pending.untry(e.Prefix)
		}
	}
	l.recountLocked()
	for _, f := range c.done {
		f()
	}
	if len(c.add)+len(c.rm) > 0 {
		l.wakeLocked()
	}
	return nil
}

// lifted returns b lifted now for why.
func (l *Ledger) lifted(b blockstore.Block, why string) blockstore.Block {
	b.Active = false
	b.LastLifted = l.now()
	b.LiftReason = why
	return b
}

// save writes the store, counting a failure.
func (l *Ledger) save() error {
	t0 := time.Now()
	err := l.store.Save()
	l.m.saveDur.Observe(time.Since(t0).Seconds())
	if err != nil {
		l.m.saveErr.Inc()
	}
	return err
}
