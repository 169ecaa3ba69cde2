// Command forgesignals is the hostile local user of the firewalld lab: it
// drops root for an unprivileged uid, connects to the lab's bus as that
// user, and sends one connection (the responder's unique name) the signals
// that would mean firewalld stopped, restarted, changed hands, reloaded,
// went into panic mode and lost a drop source: straight to it, past its
// match rules, as any user of Debian's system bus may. It prints one line,
// "<its unique name> <signals sent>", once the bus has handled every
// signal (a round trip after them), and exits non-zero if the bus refused
// the connection or a send failed.
package main

import (
	"flag"
	"fmt"
	"os"
	"syscall"
	"time"

	"github.com/godbus/dbus/v5"
)

// The names forged: firewalld's, the bus's, and firewalld's Reloaded.
const (
	firewalldName = "org.fedoraproject.FirewallD1"
	firewalldPath = "/org/fedoraproject/FirewallD1"
	busName       = "org.freedesktop.DBus"
	busPath       = "/org/freedesktop/DBus"
)

func main() {
	addr := flag.String("bus", "", "D-Bus address of the lab's bus")
	dest := flag.String("dest", "", "unique bus name to send the signals to")
	uid := flag.Int("uid", 65534, "uid (and gid) to drop to before connecting; -1 keeps the caller's")
	owner := flag.String("owner", "", "firewalld's current unique name, for the forged hand-overs (\"\" asks the bus)")
	flag.Parse()
	if *addr == "" || *dest == "" {
		fmt.Fprintln(os.Stderr, "forgesignals: -bus and -dest are required")
		os.Exit(2)
	}
	if *uid >= 0 {
		if err := dropTo(*uid); err != nil {
			fmt.Fprintln(os.Stderr, "forgesignals:", err)
			os.Exit(1)
		}
	}
	name, n, err := forge(*addr, *dest, *owner)
	if err != nil {
		fmt.Fprintf(os.Stderr, "forgesignals as uid %d: %v (sent %d)\n", os.Getuid(), err, n)
		os.Exit(1)
	}
	fmt.Printf("%s %d\n", name, n)
}

// dropTo makes every thread of the process uid (and gid uid), with no
// supplementary groups, before any connection exists.
func dropTo(uid int) error {
	if err := syscall.Setgroups(nil); err != nil {
		return fmt.Errorf("setgroups: %w", err)
	}
	if err := syscall.Setresgid(uid, uid, uid); err != nil {
		return fmt.Errorf("setresgid %d: %w", uid, err)
	}
	if err := syscall.Setresuid(uid, uid, uid); err != nil {
		return fmt.Errorf("setresuid %d: %w", uid, err)
	}
	if os.Getuid() != uid || os.Geteuid() != uid {
		return fmt.Errorf("still uid %d/%d after setresuid %d", os.Getuid(), os.Geteuid(), uid)
	}
	return nil
}

// forge connects and sends dest the forged signals, and returns its own
// unique name and how many signals the bus took.
func forge(addr, dest, owner string) (string, int, error) {
	conn, err := dbus.Connect(addr)
	if err != nil {
		return "", 0, fmt.Errorf("connect to %s: %w", addr, err)
	}
	defer conn.Close()
	me := conn.Names()[0]
	if owner == "" {
		// Asking the bus is allowed to anyone; no owner (firewalld down)
		// leaves "".
		_ = conn.BusObject().Call(busName+".GetNameOwner", 0, firewalldName).Store(&owner)
	}
	sigs := []struct {
		path          dbus.ObjectPath
		iface, member string
		body          []any
	}{
		{busPath, busName, "NameOwnerChanged", []any{firewalldName, owner, ""}},
		{busPath, busName, "NameOwnerChanged", []any{firewalldName, "", me}},
		{busPath, busName, "NameOwnerChanged", []any{firewalldName, owner, me}},
		{busPath, busName, "NameOwnerChanged", []any{firewalldName, "", ":1.4242"}},
		{firewalldPath, firewalldName, "Reloaded", nil},
		// Signals the responder does not subscribe to, which it must not
		// act on either: panic mode on, a drop source gone.
		{firewalldPath, firewalldName, "PanicModeEnabled", nil},
		{firewalldPath, firewalldName + ".zone", "SourceRemoved", []any{"drop", "198.51.100.32/27"}},
	}
	n := 0
	for _, s := range sigs {
		msg := &dbus.Message{Type: dbus.TypeSignal, Headers: map[dbus.HeaderField]dbus.Variant{
			dbus.FieldPath:        dbus.MakeVariant(s.path),
			dbus.FieldInterface:   dbus.MakeVariant(s.iface),
			dbus.FieldMember:      dbus.MakeVariant(s.member),
			dbus.FieldDestination: dbus.MakeVariant(dest),
		}, Body: s.body}
		if len(s.body) > 0 {
			msg.Headers[dbus.FieldSignature] = dbus.MakeVariant(dbus.SignatureOf(s.body...))
		}
		select {
		case call := <-conn.Send(msg, make(chan *dbus.Call, 1)).Done:
			if call.Err != nil {
				return me, n, fmt.Errorf("send %s.%s: %w", s.iface, s.member, call.Err)
			}
		case <-time.After(5 * time.Second):
			return me, n, fmt.Errorf("send %s.%s: timed out", s.iface, s.member)
		}
		n++
	}
	// The bus handles one connection's messages in order: once it answers
	// this round trip it has passed on (or, by its policy, dropped) every
	// signal before it. Only the receiver can tell which; the lab's tests
	// check it with a witness connection.
	if err := conn.BusObject().Call("org.freedesktop.DBus.Peer.Ping", 0).Err; err != nil {
		return me, n, fmt.Errorf("ping the bus after the signals: %w", err)
	}
	return me, n, nil
}
