package blocks

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/synguard/synguard/internal/blockstore"
	"github.com/synguard/synguard/internal/policy"
)

// widenLocked asks policy.Widen whether the alert block of p (put in c
// just now, or refused for the cap) is better blocked as the wider prefix
// holding it, and if so puts that block and lifts the blocks it covers in
// the same change c: saved together or not at all. The firewall gets the
// wider entry first (the driver adds before it removes), so the covered
// ranges are never open in between. It reports whether it widened.
func (l *Ledger) widenLocked(c *change, v *view, p netip.Prefix, alert string) bool {
	d := l.pol.Widen(p, v)
	if d.Verdict != policy.Widen {
		return false
	}
	if d.DryRun {
		l.record(ActionWiden, ResultDryRun, blockstore.Block{Prefix: d.Prefix}, "covers", len(d.Covered))
		return false
	}
	old, _ := l.store.Get(d.Prefix)
	nb := newBlock(d, old, v.now)
	nb.Source, nb.Alert = blockstore.SourceWiden, policy.Clip(alert)
	nb.Reason = policy.Clip(fmt.Sprintf("%d alert blocks inside it, from %s to %s", len(d.Covered), d.Covered[0], d.Covered[len(d.Covered)-1]))
	for _, cp := range d.Covered {
		b, ok := l.store.Get(cp)
		if !ok {
			continue
		}
		lb := l.lifted(b, blockstore.LiftWidened)
		c.lift(lb)
		l.unwaitLocked(cp)
		c.then(func() { l.record(ActionWidened, ResultOK, lb, "by", d.Prefix.String()) })
	}
	c.block(nb)
	v.pending += 1 - len(d.Covered)
	c.then(func() {
		l.record(ActionWiden, ResultOK, nb, "covers", len(d.Covered), "expiry", nb.Expiry.UTC().Format(time.RFC3339), "offences", nb.Offences)
	})
	return true
}

// widenSweepLocked widens every range already holding enough alert blocks,
// as after a reload that turned widening on, or at start with a state
// whose blocks rotated in before (a cap already full refuses the new block
// that would otherwise trigger it).
func (l *Ledger) widenSweepLocked() {
	if l.pol.Widening.MinBlocks == 0 || l.store.Paused() {
		return
	}
	groups := map[netip.Prefix]netip.Prefix{} // wider prefix -> one member
	counts := map[netip.Prefix]int{}
	l.store.Each(func(b blockstore.Block) {
		if !b.Active || b.Source != blockstore.SourceAlert {
			return
		}
		bits := l.pol.Widening.Length.IPv6
		if b.Prefix.Addr().Is4() {
			bits = l.pol.Widening.Length.IPv4
		}
		if b.Prefix.Bits() <= bits {
			return
		}
		w := netip.PrefixFrom(b.Prefix.Addr(), bits).Masked()
		groups[w] = b.Prefix
		counts[w]++
	})
	now := l.now()
	v := &view{l: l, now: now}
	c := l.newChange()
	widened := 0
	for w, n := range counts {
		if n < l.pol.Widening.MinBlocks {
			continue
		}
		if l.widenLocked(c, v, groups[w], "") {
			widened++
		}
	}
	if widened == 0 {
		return
	}
	if err := c.commit(); err != nil {
		l.logger.Error("widen ranges full of alert blocks; tried again at the next reload or new block", "ranges", widened, "err", err)
	}
}
