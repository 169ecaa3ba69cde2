// Package firewalldtest is a fake firewalld for tests that need neither root
// nor a real firewalld: an in-memory model of the zone and ipset methods the
// firewalld package calls, exported under firewalld's bus name on a private
// dbus-daemon that Start runs for the test.
//
// The fake answers as firewalld 1.3.3 does (same error codes, host bits kept
// as given in zone sources, overlapping ipset entries refused, runtime lost on
// reload and restart), can fail any method with any code or refuse one
// source or entry (Refuse), emits Reloaded, and can stop, crash and start
// again (dropping the bus name and taking it on a new connection, so that a
// client sees a new unique name, as with a new firewalld process). A
// crash keeps the ranges blocked as zone sources in Blocked until the next
// reload, as the stale nftables rules of a SIGKILLed firewalld do (ipset
// entries do not stay: firewalld re-creates its sets empty).
//
//	fake, addr := firewalldtest.Start(t)
//	conn, _ := dbus.Connect(addr)
//	c, _ := firewalld.New(conn, firewalld.Config{Mode: firewalld.ModeIPSet, AllowReload: true}, nil)
//	fake.FailNext("ipset.setEntries", "COMMAND_FAILED", 1)
package firewalldtest
