package firewalld

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/godbus/dbus/v5"

	"github.com/synguard/synguard/internal/firewall"
	"github.com/synguard/synguard/internal/prefix"
)

// Prepare implements firewall.Backend. It checks that firewalld answers and
// the zone exists. In ipset mode it also makes sure both sets exist in the
// permanent config (creating them as hash:net with the configured maxelem)
// and are bound to the zone in the permanent config and the runtime; a set
// just created is not in the runtime until firewalld reloads, which Prepare
// then asks for once (AllowReload).
//
// held are the prefixes firewalld confirmed to synguard before: they are
// synguard's own. In zone mode, if the zone lacks any of them, firewalld
// reloaded or restarted while the responder was down; a crash leaves stale
// kernel rules that would keep ranges lifted from now on dropped, so
// Prepare handles it as a restart (a reload, where allowed).
func (c *Client) Prepare(ctx context.Context, held []netip.Prefix) error {
	c.lock()
	defer c.unlock()
	owner, err := c.setupLocked(ctx)
	if err != nil {
		return err
	}
	if c.cfg.Mode == ModeZone && len(held) > 0 {
		held, _ = valid(held)
		for _, p := range held {
			c.mine[p] = struct{}{}
		}
		ct, err := c.zoneRuntime().read(ctx)
		if err != nil {
			return err
		}
		missing := 0
		for _, p := range held {
			if _, ok := ct.prefixes[p]; !ok {
				missing++
			}
		}
		if missing > 0 {
			c.logger.Info("firewalld lost blocks it held while the responder was down (a reload or a restart); handling it as a restart", "missing", missing)
			if err := c.clearStaleLocked(ctx, owner); err != nil {
				return err
			}
			c.owner = owner
			return nil
		}
	}
	if c.cfg.Mode == ModeZone && c.uncleared != "" && c.uncleared != owner {
		// The firewalld this Client asked to clear a crash's leftovers left
		// the bus before answering: SIGKILLed in that reload, it also leaves
		// the reload's drop-everything table (inet firewalld_policy_drop),
		// which its successor never removes. Whatever held says now (the
		// blocks may have ended meanwhile), the successor is reloaded.
		c.logger.Info("the firewalld asked to reload after a restart went away before it answered; handling its successor as a restart", "was", c.uncleared, "now", owner)
		if err := c.clearStaleLocked(ctx, owner); err != nil {
			return err
		}
	}
	c.owner = owner
	return nil
}

// setupLocked checks firewalld and prepares the zone (and sets), and
// returns the owner it prepared.
func (c *Client) setupLocked(ctx context.Context) (string, error) {
	if err := c.Up(ctx); err != nil {
		return "", fmt.Errorf("check firewalld: %w", err)
	}
	owner, err := c.currentOwner(ctx)
	if err != nil {
		return "", err
	}
	if err := c.prepareZone(ctx, owner); err != nil {
		return "", err
	}
	return owner, nil
}

// currentLocked makes sure the firewalld answering now is the one last
// prepared. A call can reach a restarted firewalld before its
// NameOwnerChanged signal does (or the signal is lost with the bus
// connection): asking who owns firewalld's name before every change makes
// sure no block is restored or lifted in a crashed firewalld's successor
// before its stale kernel rules are cleared. A new owner is prepared as
// after a restart, and a Restarted event is queued.
func (c *Client) currentLocked(ctx context.Context) error {
	if c.owner == "" {
		return fmt.Errorf("firewalld: %w", firewall.ErrNotPrepared)
	}
	o, err := c.currentOwner(ctx)
	if err != nil {
		return err
	}
	if o == c.owner {
		return nil
	}
	c.logger.Info("firewalld has a new owner on the bus: handling it as a restart", "was", c.owner, "now", o)
	if err := c.afterRestartLocked(ctx); err != nil {
		return fmt.Errorf("prepare restarted firewalld: %w", err)
	}
	c.queueLocked(firewall.Restarted, "new bus owner "+o)
	return nil
}

// afterRestartLocked prepares a firewalld that has started again: wait
// until it runs, then, in zone mode and if AllowReload is set, reload it
// once. A SIGKILLed firewalld forgets its sources but leaves their
// nftables rules in the kernel, where they keep dropping; removing the
// source then answers UNKNOWN_SOURCE and the range stays blocked until a
// reload. Right after a start the runtime equals the permanent config, so
// this reload costs other tools nothing they had not already lost.
// Measured on firewalld 1.3.3: a clean stop leaves nothing behind, and
// ipset mode needs no reload at all (a start re-creates the sets empty, so
// a stale rule that names a set blocks nothing once an entry is gone); in
// ipset mode it only checks the sets and bindings.
func (c *Client) afterRestartLocked(ctx context.Context) error {
	if err := c.waitUp(ctx); err != nil {
		return err
	}
	owner, err := c.setupLocked(ctx)
	if err != nil {
		return err
	}
	if c.cfg.Mode == ModeZone {
		if err := c.clearStaleLocked(ctx, owner); err != nil {
			return err
		}
	}
	// Only now: a failure above leaves the old owner, so that the next
	// call tries again.
	c.owner = owner
	if c.cfg.Mode == ModeZone && !c.cfg.Permanent {
		c.mine = map[netip.Prefix]struct{}{}
		c.rebuilt = true
	}
	return nil
}

// clearStaleLocked is zone mode's reload after a restart (see
// afterRestartLocked) of the firewalld owner, or its warning when reloads
// are not allowed.
func (c *Client) clearStaleLocked(ctx context.Context, owner string) error {
	if !c.cfg.AllowReload {
		c.logger.Warn("firewalld restarted and reloads are not allowed: if it crashed, the kernel rules of blocks lifted from now on stay until `firewall-cmd --reload`")
		return nil
	}
	err := c.reload(ctx, owner, ReloadRestart, "firewalld restarted: clear the stale kernel rules a crash leaves behind")
	c.uncleared = ""
	if err != nil {
		c.uncleared = owner
	}
	return err
}

// prepareZone checks the zone and, in ipset mode or with permanent
// entries, the sets and their bindings.
func (c *Client) prepareZone(ctx context.Context, owner string) error {
	var zones []string
	if err := c.call(ctx, ObjectPath, InterfaceZone+".getZones", []any{&zones}); err != nil {
		return fmt.Errorf("list zones: %w", err)
	}
	if !slices.Contains(zones, c.cfg.Zone) {
		return &Error{Op: "setup", Code: CodeInvalidZone, Message: fmt.Sprintf("zone %q does not exist in firewalld's runtime", c.cfg.Zone)}
	}
	if c.cfg.Permanent || c.cfg.Mode == ModeIPSet {
		if _, err := c.configZone(ctx); err != nil {
			return err
		}
	}
	if c.cfg.Mode != ModeIPSet {
		return nil
	}
	created := false
	for _, fam := range []string{prefix.FamilyIPv4, prefix.FamilyIPv6} {
		made, err := c.ensurePermanentIPSet(ctx, fam)
		if err != nil {
			return err
		}
		created = created || made
	}
	var missing []string
	for _, name := range []string{c.cfg.IPSet4, c.cfg.IPSet6} {
		var ok bool
		if err := c.call(ctx, ObjectPath, InterfaceIPSet+".queryIPSet", []any{&ok}, name); err != nil {
			return fmt.Errorf("query runtime ipset %s: %w", name, err)
		}
		if !ok {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		why := fmt.Sprintf("load ipsets %s, which exist only in the permanent config", strings.Join(missing, ", "))
		if created {
			why = fmt.Sprintf("load the ipsets %s just created", strings.Join(missing, ", "))
		}
		if err := c.reload(ctx, owner, ReloadIPSets, why); err != nil {
			return err
		}
		for _, name := range missing {
			var ok bool
			if err := c.call(ctx, ObjectPath, InterfaceIPSet+".queryIPSet", []any{&ok}, name); err != nil {
				return fmt.Errorf("query runtime ipset %s: %w", name, err)
			}
			if !ok {
				return fmt.Errorf("ipset %s is still not in firewalld's runtime after a reload", name)
			}
		}
	}
	for _, name := range []string{c.cfg.IPSet4, c.cfg.IPSet6} {
		if _, err := c.bindRuntime(ctx, name); err != nil {
			return err
		}
	}
	return nil
}

// configZone returns the path of the zone's permanent config object. Paths
// change when firewalld restarts, so it is looked up once per operation.
func (c *Client) configZone(ctx context.Context) (dbus.ObjectPath, error) {
	var p dbus.ObjectPath
	if err := c.call(ctx, ConfigPath, InterfaceConfig+".getZoneByName", []any{&p}, c.cfg.Zone); err != nil {
		return "", fmt.Errorf("find zone %q in the permanent config: %w", c.cfg.Zone, err)
	}
	return p, nil
}

// configIPSet returns the path of a permanent ipset, or "" if there is none.
func (c *Client) configIPSet(ctx context.Context, name string) (dbus.ObjectPath, error) {
	var names []string
	if err := c.call(ctx, ConfigPath, InterfaceConfig+".getIPSetNames", []any{&names}); err != nil {
		return "", fmt.Errorf("list permanent ipsets: %w", err)
	}
	if !slices.Contains(names, name) {
		return "", nil
	}
	var p dbus.ObjectPath
	if err := c.call(ctx, ConfigPath, InterfaceConfig+".getIPSetByName", []any{&p}, name); err != nil {
		return "", fmt.Errorf("find ipset %s in the permanent config: %w", name, err)
	}
	return p, nil
}

// IPSetSettings is firewalld's ipset settings tuple (ssssa{ss}as).
type IPSetSettings struct {
	Version     string
	Short       string
	Description string
	Type        string
	Options     map[string]string
	Entries     []string
}

func (c *Client) setName(fam string) string {
	if fam == prefix.FamilyIPv4 {
		return c.cfg.IPSet4
	}
	return c.cfg.IPSet6
}

func ipsetFamily(fam string) string {
	if fam == prefix.FamilyIPv4 {
		return "inet"
	}
	return "inet6"
}

// ensurePermanentIPSet creates the family's set in the permanent config if
// it is missing, checks an existing one is a hash:net of the right family,
// and binds it to the zone permanently. It reports whether it created the set.
func (c *Client) ensurePermanentIPSet(ctx context.Context, fam string) (bool, error) {
	name := c.setName(fam)
	path, err := c.configIPSet(ctx, name)
	if err != nil {
		return false, err
	}
	created := false
	if path == "" {
		s := IPSetSettings{
			Short:       "synguard " + fam,
			Description: "Prefixes blocked by synguard-responder. Managed by it: do not edit.",
			Type:        "hash:net",
			Options:     map[string]string{"family": ipsetFamily(fam), "maxelem": strconv.Itoa(c.cfg.IPSetMaxElem)},
			Entries:     []string{},
		}
		if err := c.call(ctx, ConfigPath, InterfaceConfig+".addIPSet", []any{&path}, name, s); err != nil && !IsCode(err, CodeNameConflict) {
			return false, fmt.Errorf("create permanent ipset %s: %w", name, err)
		}
		c.logger.Info("created permanent ipset", "ipset", name, "family", ipsetFamily(fam), "maxelem", c.cfg.IPSetMaxElem)
		created = true
	} else {
		var s IPSetSettings
		if err := c.call(ctx, path, InterfaceConfigIPSet+".getSettings", []any{&s}); err != nil {
			return false, fmt.Errorf("read permanent ipset %s: %w", name, err)
		}
		f := s.Options["family"]
		if f == "" {
			f = "inet"
		}
		if s.Type != "hash:net" || f != ipsetFamily(fam) {
			return false, fmt.Errorf("permanent ipset %s is a %s of family %s, not a hash:net of family %s: not synguard's, choose another name", name, s.Type, f, ipsetFamily(fam))
		}
		if m, err := strconv.Atoi(s.Options["maxelem"]); err == nil && m < c.cfg.IPSetMaxElem {
			c.logger.Warn("permanent ipset has a smaller maxelem than configured; recreate it (purge) to raise it", "ipset", name, "maxelem", m, "configured", c.cfg.IPSetMaxElem)
		}
	}
	zp, err := c.configZone(ctx)
	if err != nil {
		return false, err
	}
	src := "ipset:" + name
	var bound bool
	if err := c.call(ctx, zp, InterfaceConfigZone+".querySource", []any{&bound}, src); err != nil {
		return false, fmt.Errorf("query permanent binding of %s: %w", src, err)
	}
	if !bound {
		if err := c.call(ctx, zp, InterfaceConfigZone+".addSource", nil, src); err != nil && !IsCode(err, CodeAlreadyEnabled) {
			return false, fmt.Errorf("bind %s to zone %s permanently: %w", src, c.cfg.Zone, err)
		}
		c.logger.Info("bound ipset to zone in the permanent config", "ipset", name, "zone", c.cfg.Zone)
	}
	return created, nil
}

// bindRuntime makes sure the set is a runtime source of the zone and
// reports whether it had to add it.
func (c *Client) bindRuntime(ctx context.Context, name string) (bool, error) {
	src := "ipset:" + name
	var bound bool
	if err := c.call(ctx, ObjectPath, InterfaceZone+".querySource", []any{&bound}, c.cfg.Zone, src); err != nil {
		return false, fmt.Errorf("query runtime binding of %s: %w", src, err)
	}
	if bound {
		return false, nil
	}
	var z string
	if err := c.call(ctx, ObjectPath, InterfaceZone+".addSource", []any{&z}, c.cfg.Zone, src); err != nil && !IsCode(err, CodeZoneAlreadySet) {
		return false, fmt.Errorf("bind %s to zone %s: %w", src, c.cfg.Zone, err)
	}
	c.logger.Info("bound ipset to zone in the runtime", "ipset", name, "zone", c.cfg.Zone)
	return true, nil
}
