package firewalld_test

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/synguard/synguard/internal/lab"
)

// The lab (internal/lab, shared with the responder's tests): a real
// firewalld (test/lab/firewalld.sh) in a victim network namespace on a
// private bus, and an attacker namespace joined to it by a veth pair, with
// no route anywhere else. These short names keep this package's tests
// readable.
var (
	attacker4 = lab.Attacker4
	attacker6 = lab.Attacker6
	control4  = lab.Control4
	control6  = lab.Control6
	block4    = lab.Block4
	block6    = lab.Block6
)

// lab is a running lab.Lab with the test that owns it.
type testLab struct {
	*lab.Lab
	t                       *testing.T
	ns, att, state, busAddr string
}

// startLab brings up the lab for t; cleanup tears it down by recorded PIDs
// and checks the root namespace's firewall stayed as it was.
func startLab(t *testing.T) *testLab {
	t.Helper()
	l := lab.Start(t, "sgf", "../../test/lab/firewalld.sh")
	return &testLab{Lab: l, t: t, ns: l.NS, att: l.Att, state: l.State, busAddr: l.BusAddr}
}

func (l *testLab) fwOut(fn string, args ...string) (string, error) { return l.FwOut(fn, args...) }

func (l *testLab) fw(fn string, args ...string) string { l.t.Helper(); return l.Fw(fn, args...) }

// conn is a new connection to the lab's private bus.
func (l *testLab) conn() *dbus.Conn {
	l.t.Helper()
	c, err := dbus.Connect(l.busAddr)
	if err != nil {
		l.t.Fatalf("connect to the lab bus: %v", err)
	}
	l.t.Cleanup(func() { c.Close() })
	return c
}

func (l *testLab) nftRules(s string) int { return l.NftRules(s) }

func (l *testLab) dial(src netip.Addr, timeout time.Duration) (net.Conn, error) {
	return l.Dial(src, timeout)
}

func echo(c net.Conn, timeout time.Duration) error { return lab.Echo(c, timeout) }

func (l *testLab) reach(src netip.Addr) error { return l.Reach(src) }

// mustReach and mustNotReach check new connections from src.
func (l *testLab) mustReach(src netip.Addr, when string) {
	l.t.Helper()
	if err := l.reach(src); err != nil {
		l.t.Errorf("%s: %v cannot connect: %v", when, src, err)
	}
}

func (l *testLab) mustNotReach(src netip.Addr, when string) {
	l.t.Helper()
	if err := l.reach(src); err == nil {
		l.t.Errorf("%s: %v still connects", when, src)
	} else if !lab.IsTimeout(err) {
		l.t.Errorf("%s: %v failed other than by a drop: %v", when, src, err)
	}
}
