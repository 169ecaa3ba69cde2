package firewalld_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/synguard/synguard/internal/firewalld"
)

// newReal returns a Client on the lab's real firewalld, Setup done.
func (l *lab) client(cfg firewalld.Config) *firewalld.Client {
	l.t.Helper()
	cfg.ConntrackNetns = "/run/netns/" + l.ns
	c, err := firewalld.New(l.conn(), cfg, testLogger(l.t))
	if err != nil {
		l.t.Fatal(err)
	}
	if err := c.Setup(ctx(l.t)); err != nil {
		l.t.Fatalf("Setup: %v", err)
	}
	return c
}

func TestRealDropsNewAndEstablished(t *testing.T) {
	for _, mode := range []firewalld.Mode{firewalld.ModeZone, firewalld.ModeIPSet} {
		t.Run(string(mode), func(t *testing.T) {
			l := startLab(t)
			c := l.client(firewalld.Config{Mode: mode, AllowReload: true})
			est4, err := l.dial(attacker4, 2*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer est4.Close()
			est6, err := l.dial(attacker6, 2*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer est6.Close()
			if err := echo(est4, 2*time.Second); err != nil {
				t.Fatalf("established IPv4 before the block: %v", err)
			}
			if err := c.Add(ctx(t), []netip.Prefix{block4, block6}); err != nil {
				t.Fatal(err)
			}
			l.mustNotReach(attacker4, "blocked /27, new")
			l.mustNotReach(attacker6, "blocked /64, new")
			l.mustReach(control4, "control outside the /27")
			l.mustReach(control6, "control outside the /64")
			if err := echo(est4, 2*time.Second); err == nil {
				t.Error("an established IPv4 connection from the blocked /27 still gets answers")
			}
			if err := echo(est6, 2*time.Second); err == nil {
				t.Error("an established IPv6 connection from the blocked /64 still gets answers")
			}
			if err := c.Remove(ctx(t), []netip.Prefix{block4, block6}); err != nil {
				t.Fatal(err)
			}
			l.mustReach(attacker4, "after Remove")
			l.mustReach(attacker6, "after Remove")
		})
	}
}
