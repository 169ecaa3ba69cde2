package firewalld

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/synguard/synguard/internal/firewall"
	"github.com/synguard/synguard/internal/prefix"
)

// Add implements firewall.Backend: it blocks every entry's prefix in the
// runtime (and the permanent config if configured), one Result per entry.
// Expiry is ignored: firewalld keeps no timeouts. In zone mode a source
// already in the zone that is not synguard's is Preexisting and left alone,
// a source bound to another zone (ZONE_CONFLICT) is Refused. In ipset mode
// every entry of the sets is synguard's; a prefix inside an entry already
// there is Applied by it and adds nothing, a prefix around entries
// replaces them (firewalld refuses overlapping entries), and more than a
// few new entries go in as one setEntries.
func (c *Client) Add(ctx context.Context, entries []firewall.Entry) ([]firewall.Result, error) {
	ps := firewall.Prefixes(entries)
	want, bad := valid(ps)
	c.lock()
	defer c.unlock()
	if err := c.currentLocked(ctx); err != nil {
		return nil, err
	}
	res, _, _, err := c.applyLocked(ctx, "add", want, nil, nil)
	if err != nil {
		return nil, err
	}
	return ordered(ps, res, bad), nil
}

// Remove implements firewall.Backend: it lifts synguard's entries for ps
// from the runtime (and the permanent config if configured). Only entries
// exactly equal to a prefix go; in ipset mode, narrower blocks an entry had
// absorbed come back with the caller's next Sync. In zone mode a source
// that is not synguard's (see Add) stays and is reported Preexisting.
func (c *Client) Remove(ctx context.Context, ps []netip.Prefix) ([]firewall.Result, error) {
	gone, bad := valid(ps)
	c.lock()
	defer c.unlock()
	if err := c.currentLocked(ctx); err != nil {
		return nil, err
	}
	res, _, _, err := c.applyLocked(ctx, "remove", nil, gone, nil)
	if err != nil {
		return nil, err
	}
	return ordered(ps, res, bad), nil
}

// Sync implements firewall.Backend: it makes the runtime (and the
// permanent config if configured) hold every desired prefix and no owned
// prefix that is not desired, leaving everything else alone. An owned
// prefix found in the zone is synguard's own. In ipset mode it first
// re-binds a set an operator unbound, and each set changes by one
// setEntries when many entries differ, by single calls when a few do.
func (c *Client) Sync(ctx context.Context, desired []firewall.Entry, owned []netip.Prefix) (firewall.SyncResult, error) {
	dps := firewall.Prefixes(desired)
	want, badWant := valid(dps)
	own, badOwn := valid(owned)
	wantSet := toSet(want)
	var gone, goneIn []netip.Prefix
	for _, p := range owned {
		if _, ok := wantSet[prefix.Canonical(p)]; !ok {
			goneIn = append(goneIn, p)
		}
	}
	for _, p := range own {
		if _, ok := wantSet[p]; !ok {
			gone = append(gone, p)
		}
	}
	c.lock()
	defer c.unlock()
	var sr firewall.SyncResult
	if err := c.currentLocked(ctx); err != nil {
		return sr, err
	}
	t0 := time.Now()
	if c.cfg.Mode == ModeIPSet {
		// A reload or restart keeps the permanent binding; an operator's
		// runtime change may not have.
		for _, name := range []string{c.cfg.IPSet4, c.cfg.IPSet6} {
			rebound, err := c.bindRuntime(ctx, name)
			if err != nil {
				return sr, err
			}
			if rebound {
				sr.Added++
			}
		}
	}
	res, a, r, err := c.applyLocked(ctx, "sync", want, gone, toSet(own))
	sr.Added, sr.Removed = sr.Added+a, sr.Removed+r
	if err != nil {
		return sr, err
	}
	sr.Results = append(ordered(dps, res, badWant), ordered(goneIn, res, badOwn)...)
	c.logger.Debug("firewalld sync", "desired", len(want), "owned", len(own), "added", sr.Added, "removed", sr.Removed, "duration", time.Since(t0))
	return sr, nil
}

// applyLocked makes every store hold want and lift gone, and returns the
// outcome of each prefix and how many entries it changed. owned are the
// caller's own prefixes (Sync); in zone mode a present source counts as
// synguard's when it is in owned or mine.
func (c *Client) applyLocked(ctx context.Context, what string, want, gone []netip.Prefix, owned map[netip.Prefix]struct{}) (map[netip.Prefix]firewall.Result, int, int, error) {
	t0 := time.Now()
	res := map[netip.Prefix]firewall.Result{}
	var added, removed int
	var err error
	if c.cfg.Mode == ModeZone {
		added, removed, err = c.applyZoneLocked(ctx, want, gone, owned, res)
	} else {
		for _, fam := range []string{prefix.FamilyIPv4, prefix.FamilyIPv6} {
			a, r, ferr := c.applyIPSetLocked(ctx, fam, want, gone, res)
			added, removed = added+a, removed+r
			if ferr != nil {
				err = ferr
				break
			}
		}
	}
	if err != nil {
		return nil, added, removed, fmt.Errorf("%s %d prefixes: %w", what, len(want)+len(gone), err)
	}
	c.logger.Debug("firewalld "+what, "prefixes", len(want)+len(gone), "added", added, "removed", removed,
		"refused", len(firewall.Failed(mapValues(res))), "duration", time.Since(t0))
	return res, added, removed, nil
}

// applyIPSetLocked is applyLocked for one family's set in ipset mode.
func (c *Client) applyIPSetLocked(ctx context.Context, fam string, want, gone []netip.Prefix, res map[netip.Prefix]firewall.Result) (added, removed int, err error) {
	rt := c.ipsetRuntime(fam)
	want, gone = rt.ofFamily(want), rt.ofFamily(gone)
	if len(want)+len(gone) == 0 {
		return 0, 0, nil
	}
	ct, err := rt.read(ctx)
	if err != nil {
		return 0, 0, err
	}
	target := rt.targetSync(ct, want, gone)
	// A full set would refuse the whole batch: refuse the newest entries
	// beyond maxelem instead, each for itself.
	full := map[netip.Prefix]error{}
	if over := len(target) + len(ct.other) - c.cfg.IPSetMaxElem; over > 0 {
		for i := len(target) - 1; i >= 0 && over > 0; i-- {
			if _, had := ct.prefixes[target[i]]; !had {
				full[target[i]] = fmt.Errorf("%s is full (maxelem %d)", rt.desc, c.cfg.IPSetMaxElem)
				target = slices.Delete(target, i, i+1)
				over--
			}
		}
	}
	ch, err := rt.converge(ctx, ct, target)
	added, removed = ch.added, ch.removed
	if err != nil {
		return added, removed, err
	}
	// What the set holds now: the target, less refused adds, plus refused
	// removals.
	final := toSet(target)
	for p := range ch.refused {
		if _, ok := final[p]; ok {
			delete(final, p)
		} else {
			final[p] = struct{}{}
		}
	}
	var kept []netip.Prefix
	for _, p := range want {
		switch {
		case coveredBy(final, p):
			res[p] = firewall.Result{Prefix: p, Outcome: firewall.Applied}
			kept = append(kept, p)
		case ch.refused[p] != nil:
			res[p] = firewall.Result{Prefix: p, Outcome: firewall.Refused, Err: ch.refused[p]}
		case full[p] != nil:
			res[p] = firewall.Result{Prefix: p, Outcome: firewall.Refused, Err: full[p]}
		default:
			res[p] = firewall.Result{Prefix: p, Outcome: firewall.Refused, Err: errors.New("the wider entry that would cover it was refused")}
		}
	}
	for _, p := range gone {
		if e := ch.refused[p]; e != nil {
			res[p] = firewall.Result{Prefix: p, Outcome: firewall.Refused, Err: e}
		} else {
			res[p] = firewall.Result{Prefix: p, Outcome: firewall.Removed}
		}
	}
	if !c.cfg.Permanent {
		return added, removed, nil
	}
	path, err := c.configIPSet(ctx, c.setName(fam))
	if err != nil {
		return added, removed, err
	}
	if path == "" {
		return added, removed, &Error{Op: "find ipset", Code: CodeInvalidIPSet, Message: fmt.Sprintf("permanent ipset %s does not exist: Prepare makes it", c.setName(fam))}
	}
	a, r, err := c.permanentLocked(ctx, c.ipsetPermanent(fam, path), rt, kept, gone, res)
	return added + a, removed + r, err
}

// permanentLocked keeps the permanent store in step with what the runtime
// now holds of synguard's (kept) and lifted (dels). A prefix the permanent
// config refuses is taken out of the runtime again and Refused: a block
// half applied would be synguard's in one place and nobody's in the other.
func (c *Client) permanentLocked(ctx context.Context, pst, rt *store, kept, dels []netip.Prefix, res map[netip.Prefix]firewall.Result) (int, int, error) {
	pct, err := pst.read(ctx)
	if err != nil {
		return 0, 0, err
	}
	ch, err := pst.converge(ctx, pct, pst.targetSync(pct, kept, dels))
	if err != nil {
		return ch.added, ch.removed, err
	}
	for _, p := range kept {
		e := ch.refused[p]
		if e == nil {
			continue
		}
		if rerr := rt.remove(ctx, p.String()); rerr != nil && wholeCall(rerr) {
			return ch.added, ch.removed, fmt.Errorf("undo %s in %s after the permanent config refused it: %w", p, rt.desc, rerr)
		}
		delete(c.mine, p)
		res[p] = firewall.Result{Prefix: p, Outcome: firewall.Refused, Err: fmt.Errorf("%s: %w", pst.desc, e)}
	}
	for _, p := range dels {
		if e := ch.refused[p]; e != nil {
			res[p] = firewall.Result{Prefix: p, Outcome: firewall.Refused, Err: fmt.Errorf("%s: %w", pst.desc, e)}
		}
	}
	return ch.added, ch.removed, nil
}

// List implements firewall.Backend: the prefixes in the runtime now,
// sorted: in zone mode every source of the zone that is a prefix in
// canonical form (an operator's too), in ipset mode every entry of the two
// sets.
func (c *Client) List(ctx context.Context) ([]netip.Prefix, error) {
	var sts []*store
	if c.cfg.Mode == ModeZone {
		sts = []*store{c.zoneRuntime()}
	} else {
		sts = []*store{c.ipsetRuntime(prefix.FamilyIPv4), c.ipsetRuntime(prefix.FamilyIPv6)}
	}
	var out []netip.Prefix
	for _, st := range sts {
		ct, err := st.read(ctx)
		if err != nil {
			return nil, err
		}
		out = append(out, ct.current()...)
	}
	slices.SortFunc(out, prefix.Compare)
	return out, nil
}

// valid returns the canonical prefixes of ps that can be blocks, sorted and
// free of duplicates, and why each other one cannot.
func valid(ps []netip.Prefix) ([]netip.Prefix, map[netip.Prefix]error) {
	bad := map[netip.Prefix]error{}
	set := make(map[netip.Prefix]struct{}, len(ps))
	for _, p := range ps {
		cp, err := firewall.Check(p)
		if err != nil {
			bad[cp] = err
			continue
		}
		set[cp] = struct{}{}
	}
	out := make([]netip.Prefix, 0, len(set))
	for p := range set {
		out = append(out, p)
	}
	slices.SortFunc(out, prefix.Compare)
	return out, bad
}

// ordered returns one Result per prefix of ps, in order.
func ordered(ps []netip.Prefix, res map[netip.Prefix]firewall.Result, bad map[netip.Prefix]error) []firewall.Result {
	out := make([]firewall.Result, 0, len(ps))
	for _, p := range ps {
		cp, _ := firewall.Check(p)
		if e, ok := bad[cp]; ok {
			out = append(out, firewall.Result{Prefix: cp, Outcome: firewall.Refused, Err: e})
			continue
		}
		out = append(out, res[cp])
	}
	return out
}

// coveredBy reports whether a prefix of set contains p (p itself or a
// wider one).
func coveredBy(set map[netip.Prefix]struct{}, p netip.Prefix) bool {
	for bits := p.Bits(); bits >= 0; bits-- {
		w, _ := p.Addr().Prefix(bits)
		if _, ok := set[w]; ok {
			return true
		}
	}
	return false
}

func toSet(ps []netip.Prefix) map[netip.Prefix]struct{} {
	m := make(map[netip.Prefix]struct{}, len(ps))
	for _, p := range ps {
		m[p] = struct{}{}
	}
	return m
}

func mapValues(m map[netip.Prefix]firewall.Result) []firewall.Result {
	out := make([]firewall.Result, 0, len(m))
	for _, r := range m {
		out = append(out, r)
	}
	return out
}
