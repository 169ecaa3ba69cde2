package firewalld

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/synguard/synguard/internal/firewall"
)

// bulkThreshold is the number of entry changes above which one setEntries
// replaces individual addEntry/removeEntry calls. firewalld checks a new
// entry against every entry of the set (about 11 µs each in Python: 114 ms
// per addEntry at 10,000 entries) while setEntries costs about 150 µs per
// entry of the whole set, so individual calls win up to roughly 14 changes
// however large the set (reference/firewalld-lab/ipset-bench.out).
const bulkThreshold = 16

// Client is the firewalld backend: it talks to firewalld over one D-Bus
// connection. It is safe for concurrent use; changes are serialised, so a
// read-modify-write of an ipset never races another.
type Client struct {
	// connMu guards conn and redial (redial.go): a connection that closed
	// is replaced by a new one when the Client can dial again.
	connMu sync.Mutex
	conn   *dbus.Conn
	redial func() (*dbus.Conn, error)
	cfg    Config
	logger *slog.Logger

	mu sync.Mutex // serialises every change and preparation; guards below
	// owner is the unique bus name of the firewalld that Prepare, or the
	// handling of a restart, last prepared ("" before Prepare). Another
	// owner means firewalld restarted, whether or not its NameOwnerChanged
	// signal was seen.
	owner string
	// mine holds, in zone mode, the drop sources that are synguard's: added
	// by this Client, held per Prepare, or owned per Sync. A source in the
	// zone that is not is an operator's own (Preexisting). ipset mode needs
	// none: the sets are synguard's.
	mine map[netip.Prefix]struct{}
	// rebuilt: firewalld started again and nothing has been changed in it
	// since. Without permanent entries its runtime zone then holds only
	// the permanent config's sources, the operator's: none is synguard's,
	// whatever a caller's owned list says of calls that failed before.
	rebuilt bool
	// uncleared is the firewalld owner whose reload after a restart (the
	// one that clears a crash's stale rules) failed; Prepare reloads any
	// other owner that follows it (prepare.go). "" when none failed.
	uncleared string
	// queued are events found while mu is held, sent once it is released
	// (a notify may call back into the Client).
	queued []firewall.Event

	watchMu  sync.Mutex
	watchers map[int]func(firewall.Event)
	nextW    int

	// reloads bounds and counts the reloads the Client asks for (reloads.go).
	reloads reloads
}

var _ firewall.Backend = (*Client)(nil)

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

// New returns a Client for cfg on conn, empty fields defaulted. It makes no
// call: Prepare checks that firewalld is there and prepares the zone and
// sets.
func New(conn *dbus.Conn, cfg Config, logger *slog.Logger) (*Client, error) {
	if conn == nil {
		return nil, errors.New("firewalld: nil D-Bus connection")
	}
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("firewalld: %w", err)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Client{conn: conn, cfg: cfg, logger: logger, mine: map[netip.Prefix]struct{}{}, watchers: map[int]func(firewall.Event){}}, nil
}

// Config returns the configuration in effect, defaults filled in.
func (c *Client) Config() Config { return c.cfg }

// Describe implements firewall.Backend.
func (c *Client) Describe() firewall.Description {
	d := firewall.Description{Backend: "firewalld", Mode: string(c.cfg.Mode)}
	places := "runtime"
	if c.cfg.Permanent {
		places = "runtime and permanent"
	}
	if c.cfg.Mode == ModeIPSet {
		d.Where = fmt.Sprintf("ipsets %s and %s bound to zone %s (%s entries)", c.cfg.IPSet4, c.cfg.IPSet6, c.cfg.Zone, places)
	} else {
		d.Where = fmt.Sprintf("zone %s (%s sources)", c.cfg.Zone, places)
	}
	return d
}

// lock takes mu; unlock releases it and then sends what was queued.
func (c *Client) lock() { c.mu.Lock() }

func (c *Client) unlock() {
	evs := c.queued
	c.queued = nil
	c.mu.Unlock()
	for _, ev := range evs {
		c.emit(ev)
	}
}

// queueLocked records an event to send once mu is released.
func (c *Client) queueLocked(k firewall.EventKind, detail string) {
	c.queued = append(c.queued, firewall.Event{Kind: k, Time: time.Now(), Detail: detail})
}

// emit sends ev to every running Watch.
func (c *Client) emit(ev firewall.Event) {
	c.watchMu.Lock()
	ns := make([]func(firewall.Event), 0, len(c.watchers))
	for _, n := range c.watchers {
		ns = append(ns, n)
	}
	c.watchMu.Unlock()
	c.logger.Info("firewalld event", "event", ev.Kind, "detail", ev.Detail)
	for _, n := range ns {
		n(ev)
	}
}

// call makes one firewalld call and stores its reply values into out.
func (c *Client) call(ctx context.Context, path dbus.ObjectPath, method string, out []any, args ...any) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.cfg.CallTimeout)
		defer cancel()
	}
	op := opString(strings.TrimPrefix(method, Interface+"."), args)
	conn, err := c.bus()
	if err != nil {
		return newError(op, err)
	}
	call := conn.Object(BusName, path).CallWithContext(ctx, method, 0, args...)
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

// currentOwner asks the bus which connection owns firewalld's name now.
func (c *Client) currentOwner(ctx context.Context) (string, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.cfg.CallTimeout)
		defer cancel()
	}
	var o string
	conn, err := c.bus()
	if err != nil {
		return "", newError("GetNameOwner", err)
	}
	if err := conn.BusObject().CallWithContext(ctx, dbusName+".GetNameOwner", 0, BusName).Store(&o); err != nil {
		return "", newError("GetNameOwner", err)
	}
	return o, nil
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

// waitUp polls Up until firewalld runs or ctx ends (a CallTimeout at most
// when ctx has no deadline).
func (c *Client) waitUp(ctx context.Context) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.cfg.CallTimeout)
		defer cancel()
	}
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

// reload asks the firewalld owner (its unique bus name) to reload, saying
// why in the log: at most once per cause for each owner (reloads.go), counted.
func (c *Client) reload(ctx context.Context, owner, cause, why string) error {
	if !c.cfg.AllowReload {
		return fmt.Errorf("firewalld needs a reload (%s) and reloads are not allowed by the configuration: run `firewall-cmd --reload` or allow reloads", why)
	}
	if !c.reloads.allow(owner, cause) {
		return fmt.Errorf("firewalld was reloaded once already to %s and still needs it: this firewalld cannot do what synguard asks of it "+
			"(firewalld 0.9 loads hash:net ipsets only with the ipset package installed; or use zone mode); not reloading it again until it restarts", why)
	}
	c.logger.Info("reloading firewalld; other tools' runtime-only rules are dropped too", "reason", why)
	t0 := time.Now()
	err := c.call(ctx, ObjectPath, Interface+".reload", nil)
	c.reloads.count(cause)
	if err != nil {
		return err
	}
	c.logger.Info("firewalld reloaded", "reason", why, "duration", time.Since(t0))
	return nil
}
