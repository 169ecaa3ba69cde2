package firewalld

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/synguard/synguard/internal/conntrack"
	"github.com/synguard/synguard/internal/prefix"
)

// Mode selects how prefixes are represented in firewalld.
type Mode string

const (
	// ModeZone makes each prefix a source of the zone, as the runbook's
	// `firewall-cmd --zone=drop --add-source=...` does.
	ModeZone Mode = "zone"
	// ModeIPSet makes each prefix an entry of a hash:net ipset (one per
	// family) that is bound to the zone as a single source.
	ModeIPSet Mode = "ipset"
)

// Defaults for Config fields left empty.
const (
	// DefaultZone is the zone blocks go to: drop answers nothing.
	DefaultZone = "drop"
	// DefaultIPSet4 is the name of the IPv4 ipset in ipset mode.
	DefaultIPSet4 = "synguard4"
	// DefaultIPSet6 is the name of the IPv6 ipset in ipset mode.
	DefaultIPSet6 = "synguard6"
	// DefaultIPSetMaxElem is firewalld's (and the kernel's) default maxelem.
	DefaultIPSetMaxElem = 65536
	// DefaultCallTimeout bounds one D-Bus call when the context has no
	// deadline: a reload of a large config takes seconds, not minutes.
	DefaultCallTimeout = time.Minute
)

// bulkThreshold is the number of entry changes above which one setEntries
// replaces individual addEntry/removeEntry calls. firewalld checks a new
// entry against every entry of the set (about 11 µs each in Python: 114 ms
// per addEntry at 10,000 entries) while setEntries costs about 150 µs per
// entry of the whole set, so individual calls win up to roughly 14 changes
// however large the set (reference/firewalld-lab/ipset-bench.out).
const bulkThreshold = 16

// Config is what New needs to know; zero fields get the defaults above.
type Config struct {
	// Mode is the backend: ModeZone or ModeIPSet (required).
	Mode Mode
	// Zone is the zone blocks go to, DefaultZone when empty. The Client never
	// sends an empty zone: firewalld would read it as its default zone.
	Zone string
	// Permanent also keeps the permanent config in step (as the runbook's
	// --permanent plus a restart ends up): zone sources in zone mode, set
	// entries in ipset mode (the sets and their binding are always
	// permanent). Blocks then survive a firewalld restart even while the
	// responder is down, at the cost of a config file write per change.
	Permanent bool
	// IPSet4 and IPSet6 name the hash:net sets of ipset mode.
	IPSet4, IPSet6 string
	// IPSetMaxElem is the maxelem of sets the Client creates; raise it above
	// 65536 to hold more blocks.
	IPSetMaxElem int
	// AllowReload lets the Client ask firewalld to reload, only to load its
	// ipsets the first time and to clear the stale kernel rules a crashed
	// firewalld leaves (AfterRestart). A reload also drops every other
	// tool's runtime-only rules; each one is logged with its reason.
	AllowReload bool
	// CallTimeout bounds each D-Bus call whose context has no deadline;
	// DefaultCallTimeout when zero.
	CallTimeout time.Duration
	// KeepConnections leaves established connections of a blocked prefix
	// alone. By default, once a block is in place, the Client deletes the
	// conntrack entries of its answered connections: firewalld accepts
	// packets of established connections before any zone sees them, so a
	// block alone stops new connections only. Cutting needs CAP_NET_ADMIN;
	// a failure is logged and does not undo the block.
	KeepConnections bool
	// ConntrackNetns is the network namespace (a path such as
	// /run/netns/NAME) whose connections to cut; empty means the caller's
	// own, where firewalld filters. Labs that run firewalld in a namespace
	// of its own set it.
	ConntrackNetns string
}

// Client talks to firewalld over one D-Bus connection. It is safe for
// concurrent use; changes are serialised, so a read-modify-write of an
// ipset never races another.
type Client struct {
	conn   *dbus.Conn
	cfg    Config
	logger *slog.Logger
	mu     sync.Mutex // serialises every change

	pendingMu sync.Mutex
	pending   []*addRequest // ipset mode: Adds waiting for the next batch

	ownerMu sync.Mutex
	// owner is the unique bus name of the firewalld that Setup or
	// AfterRestart last prepared. Another owner means firewalld restarted,
	// whether or not its NameOwnerChanged signal was seen.
	owner string
}

// currentOwner asks the bus which connection owns firewalld's name now.
func (c *Client) currentOwner(ctx context.Context) (string, error) {
	var o string
	if err := c.conn.BusObject().CallWithContext(ctx, dbusName+".GetNameOwner", 0, BusName).Store(&o); err != nil {
		return "", fmt.Errorf("ask the bus for firewalld's owner: %w", err)
	}
	return o, nil
}

func (c *Client) prepared(owner string) {
	c.ownerMu.Lock()
	defer c.ownerMu.Unlock()
	c.owner = owner
}

// Restarted reports whether firewalld's bus name has another owner than
// the firewalld that Setup or AfterRestart last prepared: a restart the
// caller must handle with AfterRestart even if its signal comes late or
// never (a reconcile retry can reach the new firewalld first, and after a
// crash only AfterRestart clears the stale kernel rules).
func (c *Client) Restarted(ctx context.Context) (bool, error) {
	o, err := c.currentOwner(ctx)
	if err != nil {
		return false, err
	}
	c.ownerMu.Lock()
	defer c.ownerMu.Unlock()
	return c.owner != "" && o != c.owner, nil
}

// SystemBus connects to the system bus, or to DBUS_SYSTEM_BUS_ADDRESS when
// that is set (the lab's private bus). The connection is private to the
// caller, who closes it.
func SystemBus() (*dbus.Conn, error) {
	conn, err := dbus.ConnectSystemBus()
	if err != nil {
		return nil, fmt.Errorf("connect to the system bus: %w", err)
	}
	return conn, nil
}

// Connect connects to the bus at address, or to the system bus (see
// SystemBus) when address is empty.
func Connect(address string) (*dbus.Conn, error) {
	if address == "" {
		return SystemBus()
	}
	conn, err := dbus.Connect(address)
	if err != nil {
		return nil, fmt.Errorf("connect to D-Bus at %s: %w", address, err)
	}
	return conn, nil
}

// New returns a Client for cfg on conn. It makes no call: Setup checks that
// firewalld is there and prepares the zone and sets.
func New(conn *dbus.Conn, cfg Config, logger *slog.Logger) (*Client, error) {
	if conn == nil {
		return nil, errors.New("firewalld: nil D-Bus connection")
	}
	if cfg.Zone == "" {
		cfg.Zone = DefaultZone
	}
	if cfg.CallTimeout <= 0 {
		cfg.CallTimeout = DefaultCallTimeout
	}
	switch cfg.Mode {
	case ModeZone:
	case ModeIPSet:
		if cfg.IPSet4 == "" {
			cfg.IPSet4 = DefaultIPSet4
		}
		if cfg.IPSet6 == "" {
			cfg.IPSet6 = DefaultIPSet6
		}
		if cfg.IPSet4 == cfg.IPSet6 {
			return nil, fmt.Errorf("firewalld: the IPv4 and IPv6 ipsets need different names, both are %q", cfg.IPSet4)
		}
		for _, n := range []string{cfg.IPSet4, cfg.IPSet6} {
			if !validIPSetName(n) {
				return nil, fmt.Errorf("firewalld: invalid ipset name %q (letters, digits, - _ . only, at most 31)", n)
			}
		}
		if cfg.IPSetMaxElem == 0 {
			cfg.IPSetMaxElem = DefaultIPSetMaxElem
		}
		if cfg.IPSetMaxElem < 0 {
			return nil, fmt.Errorf("firewalld: ipset maxelem %d is negative", cfg.IPSetMaxElem)
		}
	default:
		return nil, fmt.Errorf("firewalld: unknown mode %q (want %q or %q)", cfg.Mode, ModeZone, ModeIPSet)
	}
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Client{conn: conn, cfg: cfg, logger: logger}, nil
}

// validIPSetName mirrors the kernel's ipset name limit (31 bytes) and keeps
// names plain.
func validIPSetName(n string) bool {
	if n == "" || len(n) > 31 {
		return false
	}
	for _, r := range n {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}

// cutConnections deletes the conntrack entries of ps's established
// connections (see Config.KeepConnections), logging the outcome.
func (c *Client) cutConnections(ps []netip.Prefix) {
	if c.cfg.KeepConnections || len(ps) == 0 {
		return
	}
	t0 := time.Now()
	n, err := conntrack.Cutter{Netns: c.cfg.ConntrackNetns}.Cut(ps)
	if err != nil {
		c.logger.Warn("could not cut established connections of blocked prefixes; new connections are blocked", "prefixes", len(ps), "err", err)
		return
	}
	if n > 0 {
		c.logger.Info("cut established connections of blocked prefixes", "connections", n, "prefixes", len(ps), "duration", time.Since(t0))
	}
}

// Config returns the configuration in effect, defaults filled in.
func (c *Client) Config() Config { return c.cfg }

// call makes one firewalld call and stores its reply values into out.
func (c *Client) call(ctx context.Context, path dbus.ObjectPath, method string, out []any, args ...any) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.cfg.CallTimeout)
		defer cancel()
	}
	call := c.conn.Object(BusName, path).CallWithContext(ctx, method, 0, args...)
	op := opString(strings.TrimPrefix(method, Interface+"."), args)
	if call.Err != nil {
		return newError(op, call.Err)
	}
	if len(out) > 0 {
		if err := call.Store(out...); err != nil {
			return newError(op, fmt.Errorf("decode reply: %w", err))
		}
	}
	return nil
}

// Up makes one cheap call (the state property) to prove firewalld answers
// and is running. A firewalld that answers but is not RUNNING yet (start-up)
// or FAILED is reported as CodeNotRunning.
func (c *Client) Up(ctx context.Context) error {
	var v dbus.Variant
	if err := c.call(ctx, ObjectPath, propertiesGet, []any{&v}, Interface, "state"); err != nil {
		return err
	}
	if s, _ := v.Value().(string); s != "RUNNING" {
		return &Error{Op: "state", Code: CodeNotRunning, Message: fmt.Sprintf("firewalld state is %v", v.Value())}
	}
	return nil
}

// waitUp polls Up until firewalld runs or ctx ends.
func (c *Client) waitUp(ctx context.Context) error {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		err := c.Up(ctx)
		if err == nil || !IsUnavailable(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for firewalld to run: %w (last: %v)", ctx.Err(), err)
		case <-t.C:
		}
	}
}

// reload asks firewalld to reload, saying why in the log.
func (c *Client) reload(ctx context.Context, why string) error {
	if !c.cfg.AllowReload {
		return fmt.Errorf("firewalld needs a reload (%s) and reloads are not allowed by the configuration: run `firewall-cmd --reload` or allow reloads", why)
	}
	c.logger.Info("reloading firewalld; other tools' runtime-only rules are dropped too", "reason", why)
	t0 := time.Now()
	if err := c.call(ctx, ObjectPath, Interface+".reload", nil); err != nil {
		return err
	}
	c.logger.Info("firewalld reloaded", "reason", why, "duration", time.Since(t0))
	return nil
}

// validate canonicalises a whole batch, refusing it entirely if any prefix
// is invalid or /0, before the first call. The result is sorted and free of
// duplicates.
func (c *Client) validate(ps []netip.Prefix) ([]netip.Prefix, error) {
	seen := make(map[netip.Prefix]struct{}, len(ps))
	out := make([]netip.Prefix, 0, len(ps))
	for i, p := range ps {
		cp := prefix.Canonical(p)
		if !cp.IsValid() {
			return nil, fmt.Errorf("prefix %d of %d (%v) is not a valid prefix: nothing applied", i+1, len(ps), p)
		}
		if cp.Bits() == 0 {
			return nil, fmt.Errorf("prefix %d of %d (%v) would block a whole address family: nothing applied", i+1, len(ps), cp)
		}
		if _, ok := seen[cp]; ok {
			continue
		}
		seen[cp] = struct{}{}
		out = append(out, cp)
	}
	slices.SortFunc(out, comparePrefix)
	return out, nil
}

func comparePrefix(a, b netip.Prefix) int {
	if c := a.Addr().Compare(b.Addr()); c != 0 {
		return c
	}
	return a.Bits() - b.Bits()
}

// Setup checks that firewalld answers and the zone exists. In ipset mode it
// also makes sure both sets exist in the permanent config (creating them as
// hash:net with the configured maxelem) and are bound to the zone in the
// permanent config and the runtime; a set just created is not in the runtime
// until firewalld reloads, which Setup then asks for once (AllowReload).
func (c *Client) Setup(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.setup(ctx)
}

func (c *Client) setup(ctx context.Context) error {
	if err := c.Up(ctx); err != nil {
		return fmt.Errorf("check firewalld: %w", err)
	}
	owner, err := c.currentOwner(ctx)
	if err != nil {
		return err
	}
	if err := c.prepareZone(ctx); err != nil {
		return err
	}
	c.prepared(owner)
	return nil
}

// prepareZone checks the zone and, in ipset mode or with permanent
// entries, the sets and their bindings.
func (c *Client) prepareZone(ctx context.Context) error {
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
		if err := c.reload(ctx, why); err != nil {
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

// AfterRestart is what to do when firewalld has started again (Watch's
// EventStarted), before re-applying blocks with Sync: wait until it runs,
// then, in zone mode and if AllowReload is set, reload it once. A SIGKILLed
// firewalld forgets its sources but leaves their nftables rules in the
// kernel, where they keep dropping; removing the source then answers
// UNKNOWN_SOURCE and the range stays blocked until a reload. Right after a
// start the runtime equals the permanent config, so this reload costs other
// tools nothing they had not already lost. Measured on firewalld 1.3.3: a
// clean stop leaves nothing behind, and ipset mode needs no reload at all
// (a start re-creates the sets empty, so a stale rule that names a set
// blocks nothing once an entry is gone); in ipset mode AfterRestart only
// checks the sets and bindings (Setup).
func (c *Client) AfterRestart(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.waitUp(ctx); err != nil {
		return err
	}
	// No shortcut for an owner already prepared: Setup records the owner
	// too, and a firewalld that crashed while the responder was down is
	// first met by Setup, then needs this reload all the same. A restart
	// found by Restarted and then signalled late costs a second reload,
	// right after a restart, when there is no runtime-only state to lose.
	owner, err := c.currentOwner(ctx)
	if err != nil {
		return err
	}
	if c.cfg.Mode == ModeIPSet {
		return c.setup(ctx)
	}
	if !c.cfg.AllowReload {
		c.logger.Warn("firewalld restarted and reloads are not allowed: if it crashed, the kernel rules of blocks lifted from now on stay until `firewall-cmd --reload`")
		c.prepared(owner)
		return nil
	}
	if err := c.reload(ctx, "firewalld restarted: clear the stale kernel rules a crash leaves behind"); err != nil {
		return err
	}
	c.prepared(owner)
	return nil
}
