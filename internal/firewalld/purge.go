package firewalld

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
)

// Purge implements firewall.Backend: it removes every owned prefix from the
// runtime and the permanent config, whatever Permanent says (uninstall,
// emergency), and needs no Prepare. In ipset mode it removes the sets'
// bindings, empties them and deletes them from the permanent config; an
// empty, unbound runtime set stays loaded until firewalld's next reload,
// blocking nothing. Sources that are not owned stay. A prefix firewalld
// refuses to remove does not stop the others; the error names them all.
func (c *Client) Purge(ctx context.Context, owned []netip.Prefix) error {
	owned, _ = valid(owned)
	c.lock()
	defer c.unlock()
	if c.cfg.Mode == ModeZone {
		zp, err := c.configZone(ctx)
		if err != nil {
			return err
		}
		var refused []string
		for _, st := range []*store{c.zoneRuntime(), c.zonePermanent(zp)} {
			ct, err := st.read(ctx)
			if err != nil {
				return err
			}
			ch, err := st.converge(ctx, ct, st.targetRemove(ct, owned))
			if err != nil {
				return fmt.Errorf("purge %s: %w", st.desc, err)
			}
			for p, e := range ch.refused {
				refused = append(refused, fmt.Sprintf("%s from %s: %v", p, st.desc, e))
			}
			c.logger.Info("purged synguard's blocks", "from", st.desc, "removed", ch.removed, "refused", len(ch.refused))
		}
		for _, p := range owned {
			delete(c.mine, p)
		}
		if len(refused) > 0 {
			return fmt.Errorf("purge: firewalld refused to remove %d: %s", len(refused), strings.Join(refused, "; "))
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
	// The sets are gone: Prepare makes them again before the next change.
	c.owner = ""
	return nil
}
