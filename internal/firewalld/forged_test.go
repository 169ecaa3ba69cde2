package firewalld_test

import (
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/synguard/synguard/internal/firewall"
	"github.com/synguard/synguard/internal/firewalld"
	"github.com/synguard/synguard/internal/firewalld/firewalldtest"
)

// sendSignal sends a signal from conn straight to dest (not broadcast: a
// unicast signal bypasses the receiver's match rules, as a hostile local
// user's would), then waits for the bus to have passed it on.
func sendSignal(t *testing.T, conn *dbus.Conn, dest string, path dbus.ObjectPath, iface, member string, body ...any) {
	t.Helper()
	msg := &dbus.Message{Type: dbus.TypeSignal, Headers: map[dbus.HeaderField]dbus.Variant{
		dbus.FieldPath:        dbus.MakeVariant(path),
		dbus.FieldInterface:   dbus.MakeVariant(iface),
		dbus.FieldMember:      dbus.MakeVariant(member),
		dbus.FieldDestination: dbus.MakeVariant(dest),
	}, Body: body}
	if len(body) > 0 {
		msg.Headers[dbus.FieldSignature] = dbus.MakeVariant(dbus.SignatureOf(body...))
	}
	if call := <-conn.Send(msg, make(chan *dbus.Call, 1)).Done; call.Err != nil {
		t.Fatalf("send %s.%s: %v", iface, member, call.Err)
	}
	// A round trip through the bus: the signal went before its answer.
	if err := conn.BusObject().Call("org.freedesktop.DBus.Peer.Ping", 0).Err; err != nil {
		t.Fatalf("ping the bus: %v", err)
	}
}

// TestForgedSignalsIgnored: signals from another connection (any local user
// on the system bus) that claim firewalld stopped, restarted or reloaded
// change nothing; firewalld's own Reloaded still arrives.
func TestForgedSignalsIgnored(t *testing.T) {
	fake, addr := firewalldtest.Start(t)
	conn, err := dbus.Connect(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	cfg := firewalld.DefaultConfig()
	cfg.Mode = firewalld.ModeZone // where a restart would make the client reload firewalld
	c, err := firewalld.New(conn, cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Prepare(ctx(t), nil); err != nil {
		t.Fatal(err)
	}
	evs := watch(t, c)
	hostile, err := dbus.Connect(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hostile.Close() })
	me := conn.Names()[0]
	sendSignal(t, hostile, me, "/org/freedesktop/DBus", "org.freedesktop.DBus", "NameOwnerChanged", firewalld.BusName, ":1.1", "")
	sendSignal(t, hostile, me, "/org/freedesktop/DBus", "org.freedesktop.DBus", "NameOwnerChanged", firewalld.BusName, ":1.1", hostile.Names()[0])
	sendSignal(t, hostile, me, firewalld.ObjectPath, firewalld.Interface, firewalld.SignalReloaded)
	calls := fake.Calls("reload")
	fake.Reload()
	// Signals are handled in order: the first event must be the real reload.
	evs.next(t, firewall.Reloaded)
	select {
	case ev := <-evs.ch:
		t.Fatalf("a forged signal made an event: %v (%s)", ev.Kind, ev.Detail)
	case <-time.After(200 * time.Millisecond):
	}
	if n := fake.Calls("reload"); n != calls {
		t.Fatalf("forged signals made the client reload firewalld %d times", n-calls)
	}
}
