package firewalld_test

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/synguard/synguard/internal/conntrack"
	"github.com/synguard/synguard/internal/firewall"
	"github.com/synguard/synguard/internal/firewalld"
)

// client returns a Client on the lab's real firewalld, prepared.
func (l *testLab) client(cfg firewalld.Config) *firewalld.Client {
	l.t.Helper()
	c, err := firewalld.New(l.conn(), cfg, testLogger(l.t))
	if err != nil {
		l.t.Fatal(err)
	}
	if err := c.Prepare(ctx(l.t), nil); err != nil {
		l.t.Fatalf("Prepare: %v", err)
	}
	return c
}

// cutting is c with the connection cut of the responder, in the lab's
// namespace.
func (l *testLab) cutting(c *firewalld.Client) firewall.Backend {
	return firewall.WithCut(c, conntrack.Cutter{Netns: "/run/netns/" + l.ns}.Cut, testLogger(l.t))
}

func TestRealDropsNewAndEstablished(t *testing.T) {
	for _, mode := range []firewalld.Mode{firewalld.ModeZone, firewalld.ModeIPSet} {
		t.Run(string(mode), func(t *testing.T) {
			l := startLab(t)
			c := l.cutting(l.client(firewalld.Config{Mode: mode, AllowReload: true}))
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
			add(t, c, []netip.Prefix{block4, block6})
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
			remove(t, c, []netip.Prefix{block4, block6})
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

// realEvents runs Watch on c for the test.
func realEvents(t *testing.T, c *firewalld.Client) <-chan firewall.Event {
	wctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	ch := make(chan firewall.Event, 64)
	go func() { _ = c.Watch(wctx, func(ev firewall.Event) { ch <- ev }) }()
	time.Sleep(200 * time.Millisecond) // subscribed
	return ch
}

// waitEvent waits for an event of kind want; a Reloaded event on the way
// (the Client's own reload after a restart) is skipped, any other fails.
func waitEvent(t *testing.T, events <-chan firewall.Event, want firewall.EventKind) {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case ev := <-events:
			if ev.Kind == want {
				return
			}
			if ev.Kind != firewall.Reloaded {
				t.Fatalf("event %v (%s), want %v", ev.Kind, ev.Detail, want)
			}
		case <-timeout:
			t.Fatalf("no %v event within 30s", want)
		}
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
			events := realEvents(t, c)
			n := 200
			if tc.cfg.Mode == firewalld.ModeZone {
				n = 60 // 15-160 ms a source: keep CI short
			}
			desired := append(filler(n), block4, block6)
			add(t, c, desired)
			l.mustNotReach(attacker4, "after Add")
			l.mustNotReach(attacker6, "after Add")

			// restore checks that a Sync puts every block back (or, with
			// Permanent zone sources, that firewalld already did).
			restore := func(when string) {
				t.Helper()
				sr, err := c.Sync(ctx(t), ents(desired), desired)
				if err != nil {
					t.Fatalf("%s: Sync: %v", when, err)
				}
				a, r := sr.Added, sr.Removed
				if f := firewall.Failed(sr.Results); len(f) > 0 {
					t.Errorf("%s: Sync refused %v", when, f)
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
			waitEvent(t, events, firewall.Reloaded)
			if !tc.cfg.Permanent {
				l.mustReach(attacker4, "a reload drops runtime blocks")
			}
			restore("after --reload")

			l.fw("fw_complete_reload")
			waitEvent(t, events, firewall.Reloaded)
			restore("after --complete-reload")

			// The Client prepares a restarted firewalld itself (zone mode:
			// a reload) before it says Restarted.
			l.fw("fw_restart")
			waitEvent(t, events, firewall.Stopped)
			waitEvent(t, events, firewall.Restarted)
			restore("after a clean restart")

			l.fw("fw_crash_restart")
			waitEvent(t, events, firewall.Stopped)
			waitEvent(t, events, firewall.Restarted)
			if n := l.nftRules(block4.Addr().String()); n != 0 && !tc.cfg.Permanent {
				t.Errorf("after a crash and Restarted, %d nft lines name %s", n, block4.Addr())
			}
			restore("after SIGKILL + start")

			// Lifting a block after the crash really lets the range in.
			remove(t, c, []netip.Prefix{block4, block6})
			l.mustReach(attacker4, "after Remove following a crash")
			l.mustReach(attacker6, "after Remove following a crash")
			if n := l.nftRules(block4.Addr().String()); n != 0 {
				t.Errorf("%d nft lines still name %s after Remove", n, block4.Addr())
			}
		})
	}
}

// TestRealStaleRulesWithoutReload shows why a restart is a reload in zone
// mode: after a SIGKILL, firewalld forgets a source whose rules stay in the
// kernel, and removing it changes nothing until a reload. A responder that
// starts then (Prepare with the blocks it held) makes that reload. In ipset
// mode the restart brings the sets back empty, so removing the entry is
// enough.
func TestRealStaleRulesWithoutReload(t *testing.T) {
	for _, mode := range []firewalld.Mode{firewalld.ModeZone, firewalld.ModeIPSet} {
		t.Run(string(mode), func(t *testing.T) {
			l := startLab(t)
			// ipset mode needs a reload to load its new sets.
			c := l.client(firewalld.Config{Mode: mode, AllowReload: mode == firewalld.ModeIPSet})
			p := []netip.Prefix{block4}
			add(t, c, p)
			l.fw("fw_crash_restart")
			syncOK(t, c, p, p)
			remove(t, c, p)
			err := l.reach(attacker4)
			t.Logf("%s: after SIGKILL + start + Sync + Remove, without a reload: reach error %v, nft lines %d", mode, err, l.nftRules(block4.Addr().String()))
			if mode == firewalld.ModeZone && err == nil {
				t.Errorf("expected the stale rules of the crash to keep blocking %s (reference/firewalld-lab)", block4)
			}
			if mode == firewalld.ModeIPSet && err != nil {
				t.Errorf("ipset mode: %s blocked after Remove although no stale rule should name it: %v", block4, err)
			}
			if mode == firewalld.ModeZone {
				next, err := firewalld.New(l.conn(), firewalld.Config{Mode: mode, AllowReload: true}, testLogger(t))
				if err != nil {
					t.Fatal(err)
				}
				if err := next.Prepare(ctx(t), p); err != nil {
					t.Fatal(err)
				}
			}
			l.mustReach(attacker4, "after a Prepare that found its held blocks gone")
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
		add(t, c, ps)
	}
	// Host bits are cleared before the call: firewalld would keep them.
	add(t, c, []netip.Prefix{netip.MustParsePrefix("198.51.100.33/27")})
	if got := strings.Fields(l.fw("fw_cmd", "--zone=drop", "--list-sources")); !equalSet(got, []string{"198.51.100.32/27", "2001:db8:5:1::/64"}) {
		t.Errorf("runtime sources %v", got)
	}
	if got := strings.Fields(l.fw("fw_cmd", "--permanent", "--zone=drop", "--list-sources")); !equalSet(got, []string{"198.51.100.32/27", "2001:db8:5:1::/64"}) {
		t.Errorf("permanent sources %v", got)
	}
	for i := 0; i < 2; i++ {
		remove(t, c, ps)
	}
	// Another responder of an HA pair, or the operator, got there first:
	// not synguard's, and left alone.
	l.fw("fw_cmd", "--zone=drop", "--add-source=198.51.100.64/27")
	rs, err := c.Add(ctx(t), ents(pfx("198.51.100.64/27", "198.51.100.96/27", "198.51.100.128/27")))
	if err != nil {
		t.Fatal(err)
	}
	if rs[0].Outcome != firewall.Preexisting {
		t.Errorf("Add of the operator's source = %v, want preexisting", rs[0])
	}
	// A source bound to another zone is not ours to move; the others go in.
	l.fw("fw_cmd", "--zone=trusted", "--add-source=198.51.100.160/27")
	rs, err = c.Add(ctx(t), ents(pfx("198.51.100.160/27", "198.51.100.192/27")))
	if err != nil {
		t.Fatal(err)
	}
	if rs[0].Outcome != firewall.Refused || !firewalld.IsCode(rs[0].Err, firewalld.CodeZoneConflict) || rs[1].Outcome != firewall.Applied {
		t.Errorf("Add beside a trusted source = %v, want %s for it alone", rs, firewalld.CodeZoneConflict)
	}
	// An unknown zone is refused at Prepare.
	bad, _ := firewalld.New(l.conn(), firewalld.Config{Mode: firewalld.ModeZone, Zone: "nosuchzone"}, nil)
	if err := bad.Prepare(ctx(t), nil); !firewalld.IsCode(err, firewalld.CodeInvalidZone) {
		t.Errorf("Prepare with an unknown zone = %v, want %s", err, firewalld.CodeInvalidZone)
	}
	// Before Prepare nothing changes.
	ic, _ := firewalld.New(l.conn(), firewalld.Config{Mode: firewalld.ModeIPSet, IPSet4: "sgfnone4", IPSet6: "sgfnone6"}, nil)
	if _, err := ic.Add(ctx(t), ents([]netip.Prefix{block4})); !errors.Is(err, firewall.ErrNotPrepared) {
		t.Errorf("Add before Prepare = %v, want ErrNotPrepared", err)
	}
	// Without AllowReload, ipset Prepare creates the sets but says a reload is needed.
	if err := ic.Prepare(ctx(t), nil); err == nil || !strings.Contains(err.Error(), "firewall-cmd --reload") {
		t.Errorf("ipset Prepare without reloads = %v, want advice to reload", err)
	}
	l.fw("fw_reload")
	if err := ic.Prepare(ctx(t), nil); err != nil {
		t.Errorf("ipset Prepare after the operator's reload: %v", err)
	}
	// firewalld answers a runtime ipset it does not have with
	// INVALID_IPSET: the call's error, not a prefix's.
	l.fw("fw_cmd", "--zone=drop", "--remove-source=ipset:sgfnone4")
	l.fw("fw_cmd", "--permanent", "--zone=drop", "--remove-source=ipset:sgfnone4")
	l.fw("fw_cmd", "--permanent", "--delete-ipset=sgfnone4")
	l.fw("fw_reload")
	if _, err := ic.Add(ctx(t), ents([]netip.Prefix{block4})); !firewalld.IsCode(err, firewalld.CodeInvalidIPSet) {
		t.Errorf("Add to a missing ipset = %v, want %s", err, firewalld.CodeInvalidIPSet)
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
			add(t, c, owned)
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
