package firewalld

import (
	"context"
	"fmt"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/synguard/synguard/internal/firewall"
)

// resubscribeDelay is how long Watch waits before subscribing again after
// its subscription failed or ended.
const resubscribeDelay = time.Second

// matches are the only signals Watch asks the bus for: the Reloaded signal
// and firewalld's NameOwnerChanged. Asking for no more matters: a reload
// also emits about 700 config.*Added signals and a setEntries one
// EntryAdded per entry.
func matches() [][]dbus.MatchOption {
	return [][]dbus.MatchOption{
		{
			dbus.WithMatchSender(BusName),
			dbus.WithMatchObjectPath(ObjectPath),
			dbus.WithMatchInterface(Interface),
			dbus.WithMatchMember(SignalReloaded),
		},
		{
			dbus.WithMatchSender(dbusName),
			dbus.WithMatchObjectPath(dbusPath),
			dbus.WithMatchInterface(dbusName),
			dbus.WithMatchMember(dbusNameOwnerChanged),
			dbus.WithMatchArg(0, BusName),
		},
	}
}

// Watch implements firewall.Backend: it reports firewalld's reloads
// (Reloaded), stops and crashes (Stopped) and starts (Restarted) until ctx
// ends, and returns ctx's error. A new firewalld is prepared before its
// Restarted event is sent: its sets and bindings checked, and in zone mode
// the reload that clears a crashed instance's stale kernel rules. A change
// call that meets a new firewalld before its signal does the same and
// sends the event from there, once. When the subscription breaks, Watch
// subscribes again and sends a Reloaded event, since signals may have been
// missed meanwhile.
//
// notify is called in order from Watch's goroutine and must not block for
// long; it may call the Client.
func (c *Client) Watch(ctx context.Context, notify func(firewall.Event)) error {
	c.watchMu.Lock()
	id := c.nextW
	c.nextW++
	c.watchers[id] = notify
	c.watchMu.Unlock()
	defer func() {
		c.watchMu.Lock()
		delete(c.watchers, id)
		c.watchMu.Unlock()
	}()
	for first, failing := true, false; ; first = false {
		subscribed, err := c.watchOnce(ctx, notify, !first)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		// A bus that stays away is logged once, not every second.
		if subscribed || !failing {
			c.logger.Error("watch firewalld signals; subscribing again", "err", err)
		}
		failing = !subscribed
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(resubscribeDelay):
		}
	}
}

// watchOnce subscribes and handles signals until ctx ends or the
// subscription does, and says whether it subscribed. again says signals
// may have been missed before it.
func (c *Client) watchOnce(ctx context.Context, notify func(firewall.Event), again bool) (bool, error) {
	conn, err := c.bus()
	if err != nil {
		return false, fmt.Errorf("subscribe to firewalld's signals: %w", err)
	}
	ms := matches()
	for i, m := range ms {
		if err := conn.AddMatchSignalContext(ctx, m...); err != nil {
			for _, done := range ms[:i] {
				_ = conn.RemoveMatchSignal(done...)
			}
			return false, fmt.Errorf("subscribe to firewalld's signals: %w", err)
		}
	}
	sigs := make(chan *dbus.Signal, 256)
	conn.Signal(sigs)
	defer func() {
		conn.RemoveSignal(sigs)
		for _, m := range ms {
			_ = conn.RemoveMatchSignal(m...)
		}
	}()
	if again {
		c.logger.Info("subscribed to firewalld's signals again; comparing everything, as after a reload")
		notify(firewall.Event{Kind: firewall.Reloaded, Time: time.Now(), Detail: "signals resubscribed: some may have been missed"})
		c.newOwner(ctx, notify, "")
	}
	for {
		select {
		case <-ctx.Done():
			return true, nil
		case s, ok := <-sigs:
			if !ok {
				return true, fmt.Errorf("the bus connection closed the signal channel")
			}
			c.handle(ctx, s, notify)
		}
	}
}

// handle turns one signal into events.
func (c *Client) handle(ctx context.Context, s *dbus.Signal, notify func(firewall.Event)) {
	now := time.Now()
	switch s.Name {
	case Interface + "." + SignalReloaded:
		if s.Path != ObjectPath {
			return
		}
		// A signal sent straight to this connection bypasses the match
		// rules, and any local user may send one: only firewalld's own
		// counts.
		if !c.fromFirewalld(ctx, s.Sender) {
			c.logger.Warn("ignored a Reloaded signal that firewalld did not send", "sender", s.Sender)
			return
		}
		c.logger.Info("firewalld event", "event", firewall.Reloaded, "detail", "Reloaded signal")
		notify(firewall.Event{Kind: firewall.Reloaded, Time: now, Detail: "Reloaded signal"})
	case dbusName + "." + dbusNameOwnerChanged:
		if s.Sender != dbusName {
			// Only the bus itself says who owns a name; a forged one would
			// read as firewalld stopping or restarting.
			c.logger.Warn("ignored a NameOwnerChanged signal the bus did not send", "sender", s.Sender)
			return
		}
		if len(s.Body) != 3 {
			return
		}
		name, _ := s.Body[0].(string)
		cur, _ := s.Body[2].(string)
		if name != BusName {
			return
		}
		if cur == "" {
			c.logger.Info("firewalld event", "event", firewall.Stopped, "detail", "left the bus")
			notify(firewall.Event{Kind: firewall.Stopped, Time: now, Detail: "NameOwnerChanged: firewalld left the bus"})
			return
		}
		// A direct hand-over from one owner to another is a start too.
		c.newOwner(ctx, notify, cur)
	}
}

// newOwner prepares a firewalld that took the bus name (cur; "" when not
// known) unless a call already did, which then sent Restarted itself. A
// failure is sent as Restarted all the same: the caller's next call meets
// the new owner and prepares it again, or fails.
func (c *Client) newOwner(ctx context.Context, notify func(firewall.Event), cur string) {
	pctx, cancel := context.WithTimeout(ctx, c.cfg.CallTimeout)
	defer cancel()
	c.lock()
	prepared := c.owner != ""
	err := error(nil)
	if prepared {
		err = c.currentLocked(pctx)
	}
	// A success sends Restarted from unlock; the same owner (a call met
	// it first and sent it) sends nothing.
	c.unlock()
	switch {
	case cur == "":
	case !prepared:
		notify(firewall.Event{Kind: firewall.Restarted, Time: time.Now(), Detail: "new bus owner " + cur + " (not prepared yet)"})
	case err != nil:
		c.logger.Warn("prepare the restarted firewalld; the next call tries again", "owner", cur, "err", err)
		notify(firewall.Event{Kind: firewall.Restarted, Time: time.Now(), Detail: fmt.Sprintf("new bus owner %s; preparing it failed: %v", cur, err)})
	}
}

// fromFirewalld reports whether sender (a unique bus name) is the
// connection that owns firewalld's name: the one prepared, or, after a
// restart not noticed yet, the one the bus names now.
func (c *Client) fromFirewalld(ctx context.Context, sender string) bool {
	c.lock()
	prepared := c.owner
	c.unlock()
	if sender != "" && sender == prepared {
		return true
	}
	cur, err := c.currentOwner(ctx)
	return err == nil && cur != "" && cur == sender
}
