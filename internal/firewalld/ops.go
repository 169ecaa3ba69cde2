package firewalld

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/synguard/synguard/internal/prefix"
)

// Add blocks every prefix of ps in the runtime (and the permanent config if
// configured). It is idempotent: a prefix already there is left alone. The
// batch is canonicalised and validated whole first, so one bad prefix
// applies nothing. In ipset mode a prefix inside an entry already there is
// blocked by it and adds nothing; a prefix around entries replaces them
// (firewalld refuses overlapping entries); more than a few new entries go in
// as one setEntries.
//
// In ipset mode concurrent Adds are applied together: while one batch is
// being applied the next ones queue up and go in as one. firewalld checks a
// single new entry against the whole set (about 114 ms at 10,000 entries),
// so a webhook that hands each notification to Add concurrently gets
// setEntries' bulk cost instead. A caller then shares its batch's outcome:
// an error (or the cancelled context of the caller that applied it) fails
// every Add in that batch, and each may simply retry.
func (c *Client) Add(ctx context.Context, ps []netip.Prefix) error {
	ps, err := c.validate(ps)
	if err != nil {
		return err
	}
	if len(ps) == 0 {
		return nil
	}
	if c.cfg.Mode != ModeIPSet {
		// Zone sources are added one call each anyway: grouping would only
		// let one prefix's ZONE_CONFLICT fail another caller's block.
		c.mu.Lock()
		err := c.addLocked(ctx, ps)
		c.mu.Unlock()
		if err == nil {
			c.cutConnections(ps)
		}
		return err
	}
	req := &addRequest{ps: ps, done: make(chan error, 1)}
	c.pendingMu.Lock()
	c.pending = append(c.pending, req)
	c.pendingMu.Unlock()
	c.mu.Lock()
	select {
	case err := <-req.done: // applied by another caller's batch meanwhile
		c.mu.Unlock()
		return err
	default:
	}
	c.pendingMu.Lock()
	batch := c.pending
	c.pending = nil
	c.pendingMu.Unlock()
	var all []netip.Prefix
	for _, r := range batch {
		all = append(all, r.ps...)
	}
	all, _ = c.validate(all) // each part is valid: this sorts and dedups
	err = c.addLocked(ctx, all)
	c.mu.Unlock()
	if err == nil {
		c.cutConnections(all)
	}
	if len(batch) > 1 {
		c.logger.Debug("firewalld add: applied concurrent requests as one batch", "requests", len(batch), "prefixes", len(all))
	}
	for _, r := range batch {
		r.done <- err
	}
	return <-req.done
}

// addRequest is one caller's Add waiting to be applied in a batch.
type addRequest struct {
	ps   []netip.Prefix
	done chan error
}

func (c *Client) addLocked(ctx context.Context, ps []netip.Prefix) error {
	return c.eachLocked(ctx, "add", len(ps), func(ctx context.Context, st *store, ct contents) (int, int, error) {
		return st.converge(ctx, ct, st.targetAdd(ct, st.ofFamily(ps)))
	})
}

// Remove lifts every prefix of ps from the runtime (and the permanent
// config if configured). It is idempotent: a prefix not there is fine. Only
// entries exactly equal to a prefix go; in ipset mode, narrower blocks an
// entry had absorbed come back with the caller's next Sync.
func (c *Client) Remove(ctx context.Context, ps []netip.Prefix) error {
	ps, err := c.validate(ps)
	if err != nil {
		return err
	}
	if len(ps) == 0 {
		return nil
	}
	return c.each(ctx, "remove", len(ps), func(ctx context.Context, st *store, ct contents) (int, int, error) {
		return st.converge(ctx, ct, st.targetRemove(ct, st.ofFamily(ps)))
	})
}

// Sync makes the runtime (and the permanent config if configured) hold
// every desired prefix and no owned prefix that is not desired, leaving
// everything else alone. In ipset mode each set changes by one setEntries
// when many entries differ, by single calls when a few do. It returns how
// many entries it had to add and remove, over all places it keeps.
func (c *Client) Sync(ctx context.Context, desired, owned []netip.Prefix) (added, removed int, err error) {
	desired, err = c.validate(desired)
	if err != nil {
		return 0, 0, fmt.Errorf("desired: %w", err)
	}
	owned, err = c.validate(owned)
	if err != nil {
		return 0, 0, fmt.Errorf("owned: %w", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	t0 := time.Now()
	if c.cfg.Mode == ModeIPSet {
		// A reload or restart keeps the permanent binding; an operator's
		// runtime change may not have.
		for _, name := range []string{c.cfg.IPSet4, c.cfg.IPSet6} {
			rebound, err := c.bindRuntime(ctx, name)
			if err != nil {
				return added, removed, err
			}
			if rebound {
				added++
			}
		}
	}
	sts, err := c.stores(ctx)
	if err != nil {
		return added, removed, err
	}
	for _, st := range sts {
		ct, err := st.read(ctx)
		if err != nil {
			return added, removed, err
		}
		a, r, err := st.converge(ctx, ct, st.targetSync(ct, st.ofFamily(desired), st.ofFamily(owned)))
		added, removed = added+a, removed+r
		if err != nil {
			return added, removed, fmt.Errorf("sync %s: %w", st.desc, err)
		}
	}
	c.logger.Debug("firewalld sync", "desired", len(desired), "owned", len(owned), "added", added, "removed", removed, "duration", time.Since(t0))
	if added > 0 {
		// Connections made while the blocks were missing are cut as well.
		c.cutConnections(desired)
	}
	return added, removed, nil
}

// each runs fn on every store under the lock, reading its content first.
func (c *Client) each(ctx context.Context, what string, n int, fn func(context.Context, *store, contents) (int, int, error)) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.eachLocked(ctx, what, n, fn)
}

// eachLocked is each with c.mu held by the caller.
func (c *Client) eachLocked(ctx context.Context, what string, n int, fn func(context.Context, *store, contents) (int, int, error)) error {
	t0 := time.Now()
	sts, err := c.stores(ctx)
	if err != nil {
		return err
	}
	added, removed := 0, 0
	for _, st := range sts {
		ct, err := st.read(ctx)
		if err != nil {
			return err
		}
		a, r, err := fn(ctx, st, ct)
		added, removed = added+a, removed+r
		if err != nil {
			return fmt.Errorf("%s %d prefixes: %w", what, n, err)
		}
	}
	c.logger.Debug("firewalld "+what, "prefixes", n, "added", added, "removed", removed, "duration", time.Since(t0))
	return nil
}

// List returns the prefixes in the runtime now, sorted: in zone mode every
// source of the zone that is a prefix in canonical form (other tools' too:
// compare with what you own), in ipset mode every entry of the two sets.
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
	slices.SortFunc(out, comparePrefix)
	return out, nil
}

// Purge removes every owned prefix from the runtime and the permanent
// config, whatever Permanent says (uninstall, emergency). In ipset mode it
// removes the sets' bindings, empties them and deletes them from the
// permanent config; an empty, unbound runtime set stays loaded until
// firewalld's next reload, blocking nothing.
func (c *Client) Purge(ctx context.Context, owned []netip.Prefix) error {
	owned, err := c.validate(owned)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cfg.Mode == ModeZone {
		zp, err := c.configZone(ctx)
		if err != nil {
			return err
		}
		for _, st := range []*store{c.zoneRuntime(), c.zonePermanent(zp)} {
			ct, err := st.read(ctx)
			if err != nil {
				return err
			}
			_, r, err := st.converge(ctx, ct, st.targetRemove(ct, owned))
			if err != nil {
				return fmt.Errorf("purge %s: %w", st.desc, err)
			}
			c.logger.Info("purged synguard's blocks", "from", st.desc, "removed", r)
		}
		return nil
	}
	zp, err := c.configZone(ctx)
	if err != nil {
		return err
	}
	for _, name := range []string{c.cfg.IPSet4, c.cfg.IPSet6} {
		src := "ipset:" + name
		var z string
		if err := idempotent(c.call(ctx, ObjectPath, InterfaceZone+".removeSource", []any{&z}, c.cfg.Zone, src), CodeUnknownSource, CodeNotEnabled, CodeInvalidIPSet); err != nil {
			return fmt.Errorf("unbind %s from runtime zone %s: %w", src, c.cfg.Zone, err)
		}
		var loaded bool
		if err := c.call(ctx, ObjectPath, InterfaceIPSet+".queryIPSet", []any{&loaded}, name); err != nil {
			return fmt.Errorf("query runtime ipset %s: %w", name, err)
		}
		if loaded {
			if err := c.call(ctx, ObjectPath, InterfaceIPSet+".setEntries", nil, name, []string{}); err != nil {
				return fmt.Errorf("empty runtime ipset %s: %w", name, err)
			}
		}
		if err := idempotent(c.call(ctx, zp, InterfaceConfigZone+".removeSource", nil, src), CodeNotEnabled); err != nil {
			return fmt.Errorf("unbind %s from permanent zone %s: %w", src, c.cfg.Zone, err)
		}
		p, err := c.configIPSet(ctx, name)
		if err != nil {
			return err
		}
		if p != "" {
			if err := c.call(ctx, p, InterfaceConfigIPSet+".remove", nil); err != nil {
				return fmt.Errorf("delete permanent ipset %s: %w", name, err)
			}
		}
		c.logger.Info("purged synguard's ipset", "ipset", name, "zone", c.cfg.Zone)
	}
	return nil
}
