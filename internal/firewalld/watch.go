package firewalld

import (
	"context"
	"fmt"
	"time"

	"github.com/godbus/dbus/v5"
)

// EventKind says what happened to firewalld.
type EventKind int

const (
	// EventReloaded: firewalld reloaded (--reload or --complete-reload) and
	// dropped every runtime source and ipset entry.
	EventReloaded EventKind = iota + 1
	// EventStarted: firewalld took its bus name (a start or restart); its
	// runtime is the permanent config. Call AfterRestart, then Sync.
	EventStarted
	// EventStopped: firewalld left the bus (a stop or a crash).
	EventStopped
)

// String names the kind for logs.
func (k EventKind) String() string {
	switch k {
	case EventReloaded:
		return "reloaded"
	case EventStarted:
		return "started"
	case EventStopped:
		return "stopped"
	}
	return fmt.Sprintf("EventKind(%d)", int(k))
}

// Event is a change of firewalld that drops runtime state.
type Event struct {
	Kind EventKind
	// Owner is firewalld's unique bus name after the event ("" when stopped).
	Owner string
	// Time is when the signal arrived.
	Time time.Time
}

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

// Watch reports firewalld's reloads, starts and stops until ctx ends, when
// the channel is closed. Events are queued in order, never dropped; a run
// of the same kind is folded into one, since each asks for the same full
// reconcile.
func (c *Client) Watch(ctx context.Context) (<-chan Event, error) {
	ms := matches()
	for i, m := range ms {
		if err := c.conn.AddMatchSignalContext(ctx, m...); err != nil {
			for _, done := range ms[:i] {
				_ = c.conn.RemoveMatchSignal(done...)
			}
			return nil, fmt.Errorf("watch firewalld signals: %w", err)
		}
	}
	sigs := make(chan *dbus.Signal, 256)
	c.conn.Signal(sigs)
	out := make(chan Event)
	go func() {
		defer close(out)
		defer func() {
			c.conn.RemoveSignal(sigs)
			for _, m := range ms {
				_ = c.conn.RemoveMatchSignal(m...)
			}
		}()
		var queue []Event
		for {
			var send chan Event
			var next Event
			if len(queue) > 0 {
				send, next = out, queue[0]
			}
			select {
			case <-ctx.Done():
				return
			case s, ok := <-sigs:
				if !ok {
					return
				}
				ev, ok := toEvent(s)
				if !ok {
					continue
				}
				c.logger.Info("firewalld event", "event", ev.Kind, "owner", ev.Owner)
				if n := len(queue); n > 0 && queue[n-1].Kind == ev.Kind {
					queue[n-1] = ev
				} else {
					queue = append(queue, ev)
				}
			case send <- next:
				queue = queue[1:]
			}
		}
	}()
	return out, nil
}

// toEvent classifies a signal, ignoring every other signal on the conn.
func toEvent(s *dbus.Signal) (Event, bool) {
	now := time.Now()
	switch s.Name {
	case Interface + "." + SignalReloaded:
		if s.Path != ObjectPath {
			return Event{}, false
		}
		return Event{Kind: EventReloaded, Owner: s.Sender, Time: now}, true
	case dbusName + "." + dbusNameOwnerChanged:
		var name, old, cur string
		if len(s.Body) != 3 {
			return Event{}, false
		}
		name, _ = s.Body[0].(string)
		old, _ = s.Body[1].(string)
		cur, _ = s.Body[2].(string)
		if name != BusName {
			return Event{}, false
		}
		if cur == "" {
			return Event{Kind: EventStopped, Time: now}, true
		}
		_ = old // a direct hand-over from one owner to another is a start too
		return Event{Kind: EventStarted, Owner: cur, Time: now}, true
	}
	return Event{}, false
}
