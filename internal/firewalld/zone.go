package firewalld

import (
	"context"
	"net/netip"

	"github.com/synguard/synguard/internal/firewall"
)

// applyZoneLocked is applyLocked in zone mode.
func (c *Client) applyZoneLocked(ctx context.Context, want, gone []netip.Prefix, owned map[netip.Prefix]struct{}, res map[netip.Prefix]firewall.Result) (added, removed int, err error) {
	rt := c.zoneRuntime()
	ct, err := rt.read(ctx)
	if err != nil {
		return 0, 0, err
	}
	// Right after a restart the zone holds nothing of synguard's (see
	// rebuilt); from this call's changes on it may.
	rebuilt := c.rebuilt
	c.rebuilt = false
	// Without permanent entries synguard never writes the permanent config:
	// a source there is the operator's (the runbook's --permanent
	// --add-source), whatever owned says. That settles what a crash leaves
	// unknown: the responder killed after firewalld answered "already
	// there" but before the answer was saved.
	operators := map[netip.Prefix]struct{}{}
	if !c.cfg.Permanent {
		zp, err := c.configZone(ctx)
		if err != nil {
			return 0, 0, err
		}
		pct, err := c.zonePermanent(zp).read(ctx)
		if err != nil {
			return 0, 0, err
		}
		for p := range pct.prefixes {
			operators[p] = struct{}{}
			delete(c.mine, p)
		}
	}
	ours := func(p netip.Prefix) bool {
		if _, op := operators[p]; op {
			return false
		}
		_, m := c.mine[p]
		_, o := owned[p]
		return m || (o && !rebuilt)
	}
	var adds, dels, kept []netip.Prefix
	for _, p := range want {
		if _, ok := ct.prefixes[p]; !ok {
			adds = append(adds, p)
			continue
		}
		if ours(p) {
			c.mine[p] = struct{}{}
			res[p] = firewall.Result{Prefix: p, Outcome: firewall.Applied}
			kept = append(kept, p)
		} else {
			res[p] = firewall.Result{Prefix: p, Outcome: firewall.Preexisting}
		}
	}
	for _, p := range gone {
		if _, ok := ct.prefixes[p]; ok && !ours(p) {
			// An operator's own source: never synguard's to lift.
			res[p] = firewall.Result{Prefix: p, Outcome: firewall.Preexisting}
			continue
		}
		dels = append(dels, p)
	}
	ch, err := rt.converge(ctx, ct, append(rt.targetRemove(ct, dels), adds...))
	added, removed = ch.added, ch.removed
	if err != nil {
		return added, removed, err
	}
	for _, p := range adds {
		_, own := owned[p]
		switch {
		case ch.refused[p] != nil:
			res[p] = firewall.Result{Prefix: p, Outcome: firewall.Refused, Err: ch.refused[p]}
		case ch.already[p] && (!own || rebuilt || !ours(p)):
			res[p] = firewall.Result{Prefix: p, Outcome: firewall.Preexisting}
		default:
			c.mine[p] = struct{}{}
			res[p] = firewall.Result{Prefix: p, Outcome: firewall.Applied}
			kept = append(kept, p)
		}
	}
	for _, p := range dels {
		if e := ch.refused[p]; e != nil {
			res[p] = firewall.Result{Prefix: p, Outcome: firewall.Refused, Err: e}
			continue
		}
		delete(c.mine, p)
		res[p] = firewall.Result{Prefix: p, Outcome: firewall.Removed}
	}
	if !c.cfg.Permanent {
		return added, removed, nil
	}
	zp, err := c.configZone(ctx)
	if err != nil {
		return added, removed, err
	}
	a, r, err := c.permanentLocked(ctx, c.zonePermanent(zp), rt, kept, dels, res)
	return added + a, removed + r, err
}
