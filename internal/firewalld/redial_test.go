package firewalld_test

import (
	"strings"
	"testing"
	"time"

	"github.com/synguard/synguard/internal/firewall"
	"github.com/synguard/synguard/internal/firewalld"
	"github.com/synguard/synguard/internal/firewalld/firewalldtest"
)

// TestRedialAfterConnectionLoss: when the D-Bus connection closes under a
// Client from Dial, the next call dials a new one and works, and Watch
// subscribes again (its first event says so), without a new Client.
func TestRedialAfterConnectionLoss(t *testing.T) {
	fake, addr := firewalldtest.Start(t)
	c, err := firewalld.Dial(addr, firewalld.DefaultConfig(), testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Prepare(ctx(t), nil); err != nil {
		t.Fatal(err)
	}
	evs := watch(t, c)
	add(t, c, pfx("198.51.100.32/27"))

	c.Close() // the connection is gone, as when the bus drops it
	add(t, c, pfx("198.51.100.64/27"))
	if e, _ := fake.RuntimeEntries("synguard4"); strings.Join(e, " ") != "198.51.100.32/27 198.51.100.64/27" {
		t.Fatalf("after the redial the set holds %v", e)
	}
	ev := evs.nextAny(t, 5*time.Second)
	if ev.Kind != firewall.Reloaded || !strings.Contains(ev.Detail, "resubscribed") {
		t.Fatalf("first event after the loss: %v (%s), want the resubscription's Reloaded", ev.Kind, ev.Detail)
	}
	fake.Reload()
	evs.next(t, firewall.Reloaded)
}

// TestNewClientDoesNotRedial: a Client from New uses its caller's
// connection only; once closed, calls fail (the backend is down) rather
// than dial a bus the caller did not choose.
func TestNewClientDoesNotRedial(t *testing.T) {
	_, c := newFake(t, firewalld.DefaultConfig())
	c.Close()
	if _, err := c.Add(ctx(t), ents(pfx("198.51.100.32/27"))); err == nil {
		t.Fatal("a call on a closed connection of New's succeeded")
	}
}

// nextAny returns the next event, whatever its kind.
func (e *events) nextAny(t *testing.T, within time.Duration) firewall.Event {
	t.Helper()
	select {
	case ev := <-e.ch:
		return ev
	case <-time.After(within):
		t.Fatal("no event")
	}
	return firewall.Event{}
}
