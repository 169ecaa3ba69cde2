package firewalld_test

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/synguard/synguard/internal/firewalld/firewalldlab"
)

// The lab (firewalldlab, shared with the responder's tests): a real
// firewalld (test/lab/firewalld.sh) in a victim network namespace on a
// private bus, and an attacker namespace joined to it by a veth pair, with
// no route anywhere else. These short names keep this package's tests
// readable.
var (
	attacker4 = firewalldlab.Attacker4
	attacker6 = firewalldlab.Attacker6
	control4  = firewalldlab.Control4
	control6  = firewalldlab.Control6
	block4    = firewalldlab.Block4
	block6    = firewalldlab.Block6
)

// lab is a running firewalldlab.Lab with the test that owns it.
type lab struct {
	*firewalldlab.Lab
	t                       *testing.T
	ns, att, state, busAddr string
}

// startLab brings up the lab for t; cleanup tears it down by recorded PIDs
// and checks the root namespace's firewall stayed as it was.
func startLab(t *testing.T) *lab {
	t.Helper()
	l := firewalldlab.Start(t, "sgf", "../../test/lab/firewalld.sh")
	return &lab{Lab: l, t: t, ns: l.NS, att: l.Att, state: l.State, busAddr: l.BusAddr}
}

func (l *lab) fwOut(fn string, args ...string) (string, error) { return l.FwOut(fn, args...) }

func (l *lab) fw(fn string, args ...string) string { l.t.Helper(); return l.Fw(fn, args...) }

// conn is a new connection to the lab's private bus.
func (l *lab) conn() *dbus.Conn {
	l.t.Helper()
	c, err := dbus.Connect(l.busAddr)
	if err != nil {
		l.t.Fatalf("connect to the lab bus: %v", err)
	}
	l.t.Cleanup(func() { c.Close() })
	return c
}

func (l *lab) nftRules(s string) int { return l.NftRules(s) }

func (l *lab) dial(src netip.Addr, timeout time.Duration) (net.Conn, error) {
	return l.Dial(src, timeout)
}

func echo(c net.Conn, timeout time.Duration) error { return firewalldlab.Echo(c, timeout) }

func (l *lab) reach(src netip.Addr) error { return l.Reach(src) }

// mustReach and mustNotReach check new connections from src.
func (l *lab) mustReach(src netip.Addr, when string) {
	l.t.Helper()
	if err := l.reach(src); err != nil {
		l.t.Errorf("%s: %v cannot connect: %v", when, src, err)
	}
}

func (l *lab) mustNotReach(src netip.Addr, when string) {
	l.t.Helper()
	if err := l.reach(src); err == nil {
		l.t.Errorf("%s: %v still connects", when, src)
	} else if !firewalldlab.IsTimeout(err) {
		l.t.Errorf("%s: %v failed other than by a drop: %v", when, src, err)
	}
}
