package firewalld_test

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/synguard/synguard/internal/firewalld"
)

// newReal returns a Client on the lab's real firewalld, Setup done.
func (l *testLab) client(cfg firewalld.Config) *firewalld.Client {
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

// filler returns n /27s of 198.18.0.0/15, which carries no traffic here.
func filler(n int) []netip.Prefix {
	out := make([]netip.Prefix, 0, n)
	for i := 0; i < n; i++ {
		out = append(out, netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 18, byte(i / 8), byte(i % 8 * 32)}), 27))
	}
	return out
}

func waitEvent(t *testing.T, events <-chan firewalld.Event, want firewalld.EventKind) {
	t.Helper()
	select {
	case ev, ok := <-events:
		if !ok {
			t.Fatalf("watch ended waiting for %v", want)
		}
		if ev.Kind != want {
			t.Fatalf("event %v, want %v", ev.Kind, want)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("no %v event within 30s", want)
	}
}

// TestRealLifecycle blocks a few hundred prefixes, then checks what every
// way firewalld loses its runtime does, and that the Client repairs it:
// --reload, --complete-reload, a clean restart and a SIGKILL + start.
func TestRealLifecycle(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  firewalld.Config
	}{
		{"zone", firewalld.Config{Mode: firewalld.ModeZone, AllowReload: true}},
		{"zone-permanent", firewalld.Config{Mode: firewalld.ModeZone, Permanent: true, AllowReload: true}},
		{"ipset", firewalld.Config{Mode: firewalld.ModeIPSet, AllowReload: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := startLab(t)
			c := l.client(tc.cfg)
			wctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			events, err := c.Watch(wctx)
			if err != nil {
				t.Fatal(err)
			}
			n := 200
			if tc.cfg.Mode == firewalld.ModeZone {
				n = 60 // 15-160 ms a source: keep CI short
			}
			desired := append(filler(n), block4, block6)
			if err := c.Add(ctx(t), desired); err != nil {
				t.Fatal(err)
			}
			l.mustNotReach(attacker4, "after Add")
			l.mustNotReach(attacker6, "after Add")

			// restore checks that a Sync puts every block back (or, with
			// Permanent zone sources, that firewalld already did).
			restore := func(when string) {
				t.Helper()
				a, r, err := c.Sync(ctx(t), desired, desired)
				if err != nil {
					t.Fatalf("%s: Sync: %v", when, err)
				}
				wantAdded := len(desired)
				if tc.cfg.Permanent {
					wantAdded = 0
				}
				if a != wantAdded || r != 0 {
					t.Errorf("%s: Sync repaired +%d -%d, want +%d -0", when, a, r, wantAdded)
				}
				got, err := c.List(ctx(t))
				if err != nil {
					t.Fatal(err)
				}
				if len(got) != len(desired) {
					t.Errorf("%s: %d prefixes listed after Sync, want %d", when, len(got), len(desired))
				}
				l.mustNotReach(attacker4, when+", restored")
				l.mustNotReach(attacker6, when+", restored")
				l.mustReach(control4, when+", control")
			}

			l.fw("fw_reload")
			waitEvent(t, events, firewalld.EventReloaded)
			if !tc.cfg.Permanent {
				l.mustReach(attacker4, "a reload drops runtime blocks")
			}
			restore("after --reload")

			l.fw("fw_complete_reload")
			waitEvent(t, events, firewalld.EventReloaded)
			restore("after --complete-reload")

			l.fw("fw_restart")
			waitEvent(t, events, firewalld.EventStopped)
			waitEvent(t, events, firewalld.EventStarted)
			if err := c.AfterRestart(ctx(t)); err != nil {
				t.Fatal(err)
			}
			if tc.cfg.Mode == firewalld.ModeZone {
				waitEvent(t, events, firewalld.EventReloaded) // AfterRestart's own
			}
			restore("after a clean restart")

			l.fw("fw_crash_restart")
			waitEvent(t, events, firewalld.EventStopped)
			waitEvent(t, events, firewalld.EventStarted)
			stale := l.reach(attacker4) != nil
			t.Logf("after SIGKILL + start, before AfterRestart: %s still blocked: %v; nft lines naming it: %d",
				block4, stale, l.nftRules(block4.Addr().String()))
			if tc.cfg.Mode == firewalld.ModeIPSet && stale {
				t.Errorf("ipset mode: %s still blocked after SIGKILL + start (the sets should come back empty)", block4)
			}
			if err := c.AfterRestart(ctx(t)); err != nil {
				t.Fatal(err)
			}
			if tc.cfg.Mode == firewalld.ModeZone {
				waitEvent(t, events, firewalld.EventReloaded)
			}
			if n := l.nftRules(block4.Addr().String()); n != 0 && !tc.cfg.Permanent {
				t.Errorf("AfterRestart left %d nft lines naming %s", n, block4.Addr())
			}
			restore("after SIGKILL + start")

			// Lifting a block after the crash really lets the range in.
			if err := c.Remove(ctx(t), []netip.Prefix{block4, block6}); err != nil {
				t.Fatal(err)
			}
			l.mustReach(attacker4, "after Remove following a crash")
			l.mustReach(attacker6, "after Remove following a crash")
			if n := l.nftRules(block4.Addr().String()); n != 0 {
				t.Errorf("%d nft lines still name %s after Remove", n, block4.Addr())
			}
		})
	}
}

// TestRealStaleRulesWithoutReload shows why AfterRestart reloads in zone
// mode: after a SIGKILL, firewalld forgets a source whose rules stay in the
// kernel, and removing it changes nothing until a reload. In ipset mode the
// restart brings the sets back empty, so removing the entry is enough.
func TestRealStaleRulesWithoutReload(t *testing.T) {
	for _, mode := range []firewalld.Mode{firewalld.ModeZone, firewalld.ModeIPSet} {
		t.Run(string(mode), func(t *testing.T) {
			l := startLab(t)
			c := l.client(firewalld.Config{Mode: mode, AllowReload: true})
			p := []netip.Prefix{block4}
			if err := c.Add(ctx(t), p); err != nil {
				t.Fatal(err)
			}
			l.fw("fw_crash_restart")
			if err := c.Up(ctx(t)); err != nil {
				t.Fatal(err)
			}
			if mode == firewalld.ModeIPSet {
				if err := c.Setup(ctx(t)); err != nil {
					t.Fatal(err)
				}
			}
			if _, _, err := c.Sync(ctx(t), p, p); err != nil {
				t.Fatal(err)
			}
			if err := c.Remove(ctx(t), p); err != nil {
				t.Fatal(err)
			}
			err := l.reach(attacker4)
			t.Logf("%s: after SIGKILL + start + Sync + Remove, without a reload: reach error %v, nft lines %d", mode, err, l.nftRules(block4.Addr().String()))
			if mode == firewalld.ModeZone && err == nil {
				t.Errorf("expected the stale rules of the crash to keep blocking %s (reference/firewalld-lab)", block4)
			}
			if mode == firewalld.ModeIPSet && err != nil {
				t.Errorf("ipset mode: %s blocked after Remove although no stale rule should name it: %v", block4, err)
			}
			if err := c.AfterRestart(ctx(t)); err != nil {
				t.Fatal(err)
			}
			l.mustReach(attacker4, "after AfterRestart")
		})
	}
}

// TestRealIdempotencyAndCodes checks, against the real daemon, that
// repeated and crossing actions succeed and that a foreign binding is
// reported by its code.
func TestRealIdempotencyAndCodes(t *testing.T) {
	l := startLab(t)
	c := l.client(firewalld.Config{Mode: firewalld.ModeZone, Permanent: true, AllowReload: true})
	ps := []netip.Prefix{block4, block6}
	for i := 0; i < 2; i++ {
		if err := c.Add(ctx(t), ps); err != nil {
			t.Fatalf("Add #%d: %v", i+1, err)
		}
	}
	// Host bits are cleared before the call: firewalld would keep them.
	if err := c.Add(ctx(t), []netip.Prefix{netip.MustParsePrefix("198.51.100.33/27")}); err != nil {
		t.Fatal(err)
	}
	if got := strings.Fields(l.fw("fw_cmd", "--zone=drop", "--list-sources")); !equalSet(got, []string{"198.51.100.32/27", "2001:db8:5:1::/64"}) {
		t.Errorf("runtime sources %v", got)
	}
	if got := strings.Fields(l.fw("fw_cmd", "--permanent", "--zone=drop", "--list-sources")); !equalSet(got, []string{"198.51.100.32/27", "2001:db8:5:1::/64"}) {
		t.Errorf("permanent sources %v", got)
	}
	for i := 0; i < 2; i++ {
		if err := c.Remove(ctx(t), ps); err != nil {
			t.Fatalf("Remove #%d: %v", i+1, err)
		}
	}
	// Another responder of an HA pair, or the operator, got there first.
	l.fw("fw_cmd", "--zone=drop", "--add-source=198.51.100.64/27")
	if err := c.Add(ctx(t), []netip.Prefix{netip.MustParsePrefix("198.51.100.64/27")}); err != nil {
		t.Fatal(err)
	}
	// A source bound to another zone is not ours to move.
	l.fw("fw_cmd", "--zone=trusted", "--add-source=198.51.100.96/27")
	err := c.Add(ctx(t), []netip.Prefix{netip.MustParsePrefix("198.51.100.96/27")})
	if !firewalld.IsCode(err, firewalld.CodeZoneConflict) {
		t.Errorf("Add of a trusted source = %v, want %s", err, firewalld.CodeZoneConflict)
	}
	// An unknown zone is refused at Setup.
	bad, _ := firewalld.New(l.conn(), firewalld.Config{Mode: firewalld.ModeZone, Zone: "nosuchzone"}, nil)
	if err := bad.Setup(ctx(t)); !firewalld.IsCode(err, firewalld.CodeInvalidZone) {
		t.Errorf("Setup with an unknown zone = %v, want %s", err, firewalld.CodeInvalidZone)
	}
	// firewalld answers a runtime ipset it never loaded with INVALID_IPSET.
	ic, _ := firewalld.New(l.conn(), firewalld.Config{Mode: firewalld.ModeIPSet, IPSet4: "sgfnone4", IPSet6: "sgfnone6", KeepConnections: true}, nil)
	if err := ic.Add(ctx(t), []netip.Prefix{block4}); !firewalld.IsCode(err, firewalld.CodeInvalidIPSet) {
		t.Errorf("Add to a missing ipset = %v, want %s", err, firewalld.CodeInvalidIPSet)
	}
	// Without AllowReload, ipset Setup creates the sets but says a reload is needed.
	if err := ic.Setup(ctx(t)); err == nil || !strings.Contains(err.Error(), "firewall-cmd --reload") {
		t.Errorf("ipset Setup without reloads = %v, want advice to reload", err)
	}
	l.fw("fw_reload")
	if err := ic.Setup(ctx(t)); err != nil {
		t.Errorf("ipset Setup after the operator's reload: %v", err)
	}
}

func equalSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	m := map[string]bool{}
	for _, s := range a {
		m[s] = true
	}
	for _, s := range b {
		if !m[s] {
			return false
		}
	}
	return true
}

// TestRealPurge checks that Purge leaves nothing of synguard's in the
// runtime or the permanent config, and other sources alone.
func TestRealPurge(t *testing.T) {
	for _, mode := range []firewalld.Mode{firewalld.ModeZone, firewalld.ModeIPSet} {
		t.Run(string(mode), func(t *testing.T) {
			l := startLab(t)
			l.fw("fw_cmd", "--permanent", "--zone=drop", "--add-source=203.0.113.0/24")
			l.fw("fw_cmd", "--zone=drop", "--add-source=203.0.113.0/24")
			c := l.client(firewalld.Config{Mode: mode, Permanent: true, AllowReload: true})
			owned := append(filler(20), block4, block6)
			if err := c.Add(ctx(t), owned); err != nil {
				t.Fatal(err)
			}
			l.mustNotReach(attacker4, "before Purge")
			if err := c.Purge(ctx(t), owned); err != nil {
				t.Fatal(err)
			}
			l.mustReach(attacker4, "after Purge")
			l.mustReach(attacker6, "after Purge")
			for _, args := range [][]string{{"--zone=drop", "--list-sources"}, {"--permanent", "--zone=drop", "--list-sources"}} {
				if got := strings.TrimSpace(l.fw("fw_cmd", args...)); got != "203.0.113.0/24" {
					t.Errorf("firewall-cmd %v = %q, want only the operator's 203.0.113.0/24", args, got)
				}
			}
			if got := strings.TrimSpace(l.fw("fw_cmd", "--permanent", "--get-ipsets")); got != "" {
				t.Errorf("permanent ipsets after Purge: %q", got)
			}
			for _, name := range []string{"synguard4", "synguard6"} {
				if out, err := l.fwOut("fw_cmd", "--ipset="+name, "--get-entries"); err == nil && strings.TrimSpace(out) != "" {
					t.Errorf("runtime ipset %s still holds %q", name, out)
				}
			}
			// The empty runtime sets go with the next reload; nothing comes back.
			l.fw("fw_reload")
			if got := strings.TrimSpace(l.fw("fw_cmd", "--get-ipsets")); got != "" {
				t.Errorf("runtime ipsets after Purge and a reload: %q", got)
			}
			if got := strings.TrimSpace(l.fw("fw_cmd", "--zone=drop", "--list-sources")); got != "203.0.113.0/24" {
				t.Errorf("drop after Purge and a reload: %q", got)
			}
		})
	}
}
