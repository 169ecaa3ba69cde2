package blocks

import (
	"maps"
	"net/netip"
	"slices"
	"time"

	"github.com/synguard/synguard/internal/blockstore"
	"github.com/synguard/synguard/internal/firewall"
	"github.com/synguard/synguard/internal/prefix"
)

// Work is the hand-over from the ledger to the driver: the firewall
// changes saved since the driver last took them. Each prefix is in at most
// one of the two lists, as the last change left it.
type Work struct {
	// Add holds the new and extended blocks.
	Add []firewall.Entry
	// Remove holds the lifted prefixes the responder owns.
	Remove []netip.Prefix
}

// Empty reports whether there is nothing to do.
func (w Work) Empty() bool { return len(w.Add)+len(w.Remove) == 0 }

// queue is the Work not yet taken: a later change of a prefix replaces an
// earlier one.
type queue struct {
	add map[netip.Prefix]firewall.Entry
	rm  map[netip.Prefix]struct{}
	// untried holds the new blocks (not the responder's entries before)
	// that no backend call has been asked to make yet: the firewall cannot
	// hold an entry of the responder's for them, so a Sync must not list
	// them as owned, or it would take an operator's own entry of the same
	// prefix for the responder's (and remove it when the block ends). A
	// call that failed may have made it: Requeue ends it, as Confirm does.
	// It is not saved: after a crash every unconfirmed block is owned, as
	// the firewall.Backend contract asks of a caller that does not know.
	untried map[netip.Prefix]struct{}
}

// untry records p, a block new to the firewall, as not tried yet.
func (q *queue) untry(p netip.Prefix) {
	if q.untried == nil {
		q.untried = map[netip.Prefix]struct{}{}
	}
	q.untried[p] = struct{}{}
}

func (q *queue) init() {
	if q.add == nil {
		q.add, q.rm = map[netip.Prefix]firewall.Entry{}, map[netip.Prefix]struct{}{}
	}
}

func (q *queue) put(add []firewall.Entry, rm []netip.Prefix) {
	q.init()
	for _, e := range add {
		q.add[e.Prefix] = e
		delete(q.rm, e.Prefix)
	}
	for _, p := range rm {
		q.rm[p] = struct{}{}
		delete(q.add, p)
	}
}

// Take returns the queued work and empties the queue.
func (l *Ledger) Take() Work {
	l.mu.Lock()
	defer l.mu.Unlock()
	q := &l.pending
	q.init()
	w := Work{
		Add:    slices.SortedFunc(maps.Values(q.add), func(a, b firewall.Entry) int { return prefix.Compare(a.Prefix, b.Prefix) }),
		Remove: slices.SortedFunc(maps.Keys(q.rm), prefix.Compare),
	}
	q.add, q.rm = nil, nil
	return w
}

// Requeue puts back work the firewall did not do; a change of the same
// prefix queued meanwhile wins.
func (l *Ledger) Requeue(w Work) {
	l.mu.Lock()
	defer l.mu.Unlock()
	q := &l.pending
	q.init()
	for _, e := range w.Add {
		// The call that failed may have made the entry.
		delete(q.untried, e.Prefix)
		if _, rm := q.rm[e.Prefix]; !rm {
			if _, newer := q.add[e.Prefix]; !newer {
				q.add[e.Prefix] = e
			}
		}
	}
	for _, p := range w.Remove {
		if _, add := q.add[p]; !add {
			q.rm[p] = struct{}{}
		}
	}
}

// Desired returns what a full reconcile makes the firewall hold: every
// active block, and every prefix the responder may own there (so that what
// is owned and no longer desired goes).
func (l *Ledger) Desired() (desired []firewall.Entry, owned []netip.Prefix) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, b := range l.store.Blocks() {
		if b.Active {
			desired = append(desired, firewall.Entry{Prefix: b.Prefix, Expiry: b.Expiry})
		}
		if _, untried := l.pending.untried[b.Prefix]; b.Owned() && !untried {
			owned = append(owned, b.Prefix)
		}
	}
	return desired, owned
}

// Held returns the active blocks the firewall once confirmed as the
// responder's own: a backend's Prepare uses them to notice a firewall that
// lost them while the responder was down, and takes them as its own. A
// block the firewall held already as an operator's entry (Preexisting) is
// never among them: a backend told it was the responder's would remove the
// operator's entry when the block ends.
func (l *Ledger) Held() []netip.Prefix {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []netip.Prefix
	for _, b := range l.store.Blocks() {
		if b.Active && b.Applied && !b.Preexisting {
			out = append(out, b.Prefix)
		}
	}
	return out
}

// Confirm folds what the firewall did into the records, each against its
// current state, never a snapshot: a block lifted while its add was under
// way stays owned (its removal is queued), a block made again while its
// removal was under way stays active. It reports whether a removed prefix
// overlaps an active block, which a full reconcile must then put back (a
// set that kept a minimal cover may have dropped it with the wider one).
func (l *Ledger) Confirm(rs []firewall.Result) (resync bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	save := false
	var removed []netip.Prefix
	for _, r := range rs {
		delete(l.pending.untried, r.Prefix)
		b, ok := l.store.Get(r.Prefix)
		if !ok {
			continue
		}
		switch r.Outcome {
		case firewall.Applied:
			if b.Active && (!b.Applied || b.Preexisting || !b.Installed) {
				b.Applied, b.Installed, b.Preexisting = true, true, false
				l.store.Put(b)
			}
		case firewall.Preexisting:
			if b.Active && !b.Preexisting {
				// Never the responder's: never removed when the block ends.
				b.Applied, b.Installed, b.Preexisting = true, false, true
				l.store.Put(b)
				save = true
				l.logger.Info("audit", "action", ActionBlock, "result", "preexisting", "prefix", b.Prefix.String(),
					"detail", "the firewall already dropped it as an entry that is not the responder's: it stays when the block ends")
			}
		case firewall.Removed:
			removed = append(removed, r.Prefix)
			if !b.Active && b.Installed {
				b.Installed = false
				l.store.Put(b)
				save = true
			}
		case firewall.Refused:
			l.logger.Warn("firewall refused a prefix; the rest were applied", "prefix", r.Prefix.String(), "err", r.Err)
			l.recent.action(l.now(), "firewall", "refused", r.Prefix, errString(r.Err))
		}
	}
	if l.pruneLocked(l.now()) {
		save = true
	}
	if save {
		if err := l.save(); err != nil {
			l.logger.Error("save state after the firewall's answer; the next reconcile tries again", "err", err)
		}
	}
	for _, p := range removed {
		hit := false
		l.store.Each(func(b blockstore.Block) {
			if b.Active && b.Prefix.Overlaps(p) {
				hit = true
			}
		})
		if hit {
			return true
		}
	}
	return false
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// pruneLocked forgets lifted blocks whose offences are no longer
// remembered, and beyond that the oldest lifted ones past historyCap: the
// history of lifted blocks is bounded like the active ones, so prefixes
// rotating through blocks cannot grow the state without end. A forgotten
// prefix only loses its escalation.
func (l *Ledger) pruneLocked(now time.Time) bool {
	var old []netip.Prefix
	var lifted []blockstore.Block
	l.store.Each(func(b blockstore.Block) {
		if b.Active || b.Owned() {
			return
		}
		if l.pol.OffenceMemory > 0 && now.Sub(b.LastLifted) > l.pol.OffenceMemory {
			old = append(old, b.Prefix)
			return
		}
		lifted = append(lifted, b)
	})
	if over := len(lifted) - l.historyCap(); over > 0 {
		slices.SortFunc(lifted, func(a, b blockstore.Block) int { return a.LastLifted.Compare(b.LastLifted) })
		for _, b := range lifted[:over] {
			old = append(old, b.Prefix)
		}
	}
	for _, p := range old {
		l.store.Delete(p)
	}
	return len(old) > 0
}

// historyCap is how many lifted blocks the ledger remembers: as many as it
// may hold active, at least 1,000.
func (l *Ledger) historyCap() int { return max(l.pol.MaxActive, 1000) }

// NextExpiry returns when the next active block expires.
func (l *Ledger) NextExpiry() (time.Time, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var next time.Time
	l.store.Each(func(b blockstore.Block) {
		if b.Active && (next.IsZero() || b.Expiry.Before(next)) {
			next = b.Expiry
		}
	})
	return next, !next.IsZero()
}

// Expire lifts every active block whose expiry has come by now. A failed
// save changes nothing: the firewall keeps blocking, and the next call
// tries again.
func (l *Ledger) Expire(now time.Time) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	var due []blockstore.Block
	l.store.Each(func(b blockstore.Block) {
		if b.Active && !b.Expiry.After(now) {
			due = append(due, b)
		}
	})
	c := l.newChange()
	for _, b := range due {
		nb := l.lifted(b, blockstore.LiftExpired)
		c.lift(nb)
		c.then(func() { l.record(ActionExpire, ResultOK, nb, "expired_at", b.Expiry.UTC().Format(time.RFC3339)) })
	}
	return c.commit()
}

// Checkpoint saves what the firewall confirmed since the last change; the
// driver calls it when it stops. Confirmations are otherwise saved with the
// next change: losing them in a crash only costs Prepare's check of held
// blocks one chance.
func (l *Ledger) Checkpoint() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.save()
}
