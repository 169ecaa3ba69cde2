package firewalld_test

import (
	"context"
	"log/slog"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"
	"github.com/google/go-cmp/cmp"

	"github.com/synguard/synguard/internal/firewalld"
	"github.com/synguard/synguard/internal/firewalld/firewalldtest"
)

func pfx(ss ...string) []netip.Prefix {
	out := make([]netip.Prefix, 0, len(ss))
	for _, s := range ss {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}

func testLogger(t *testing.T) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return nil
}

// newFake starts a fake firewalld and a Client on it, Setup done.
func newFake(t *testing.T, cfg firewalld.Config) (*firewalldtest.Fake, *firewalld.Client) {
	t.Helper()
	fake, addr := firewalldtest.Start(t)
	conn, err := dbus.Connect(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	// The fake blocks nothing real: leave the host's connections alone.
	cfg.KeepConnections = true
	c, err := firewalld.New(conn, cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Setup(ctx(t)); err != nil {
		t.Fatalf("Setup: %v", err)
	}
	return fake, c
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return c
}

func TestNewRefuses(t *testing.T) {
	conn := &dbus.Conn{}
	for _, tc := range []struct {
		name string
		cfg  firewalld.Config
		want string
	}{
		{"no mode", firewalld.Config{}, "unknown mode"},
		{"same set names", firewalld.Config{Mode: firewalld.ModeIPSet, IPSet4: "a", IPSet6: "a"}, "different names"},
		{"bad set name", firewalld.Config{Mode: firewalld.ModeIPSet, IPSet4: "a b"}, "invalid ipset name"},
		{"negative maxelem", firewalld.Config{Mode: firewalld.ModeIPSet, IPSetMaxElem: -1}, "negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := firewalld.New(conn, tc.cfg, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New(%+v) = %v, want error containing %q", tc.cfg, err, tc.want)
			}
		})
	}
	c, err := firewalld.New(conn, firewalld.Config{Mode: firewalld.ModeZone}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Config().Zone; got != "drop" {
		t.Errorf("empty zone became %q, want drop (never firewalld's default zone)", got)
	}
}

func TestZoneAddRemoveIdempotent(t *testing.T) {
	fake, c := newFake(t, firewalld.Config{Mode: firewalld.ModeZone, Permanent: true})
	ps := pfx("198.51.100.33/27", "2001:db8:1::5/64", "198.51.100.32/27")
	if err := c.Add(ctx(t), ps); err != nil {
		t.Fatal(err)
	}
	want := []string{"198.51.100.32/27", "2001:db8:1::/64"}
	if diff := cmp.Diff(want, fake.RuntimeSources("drop")); diff != "" {
		t.Errorf("runtime sources (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want, fake.PermanentSources("drop")); diff != "" {
		t.Errorf("permanent sources (-want +got):\n%s", diff)
	}
	// Again: nothing changes, no add call is made.
	fake.ResetCalls()
	if err := c.Add(ctx(t), ps); err != nil {
		t.Fatal(err)
	}
	if n := fake.Calls("zone.addSource") + fake.Calls("config.zone.addSource"); n != 0 {
		t.Errorf("second Add made %d add calls, want 0", n)
	}
	if !fake.Blocked(netip.MustParseAddr("198.51.100.40")) || fake.Blocked(netip.MustParseAddr("198.51.100.100")) {
		t.Error("Blocked does not match the /27")
	}
	got, err := c.List(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(pfx("198.51.100.32/27", "2001:db8:1::/64"), got, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
		t.Errorf("List (-want +got):\n%s", diff)
	}
	if err := c.Remove(ctx(t), pfx("198.51.100.32/27", "203.0.113.0/24")); err != nil {
		t.Fatal(err)
	}
	if err := c.Remove(ctx(t), pfx("198.51.100.32/27")); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"2001:db8:1::/64"}, fake.RuntimeSources("drop")); diff != "" {
		t.Errorf("after Remove (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"2001:db8:1::/64"}, fake.PermanentSources("drop")); diff != "" {
		t.Errorf("permanent after Remove (-want +got):\n%s", diff)
	}
}

// firewalld's idempotency answers are success even when the Client's view
// is stale (another responder of an HA pair got there first).
func TestIdempotencyCodes(t *testing.T) {
	for _, tc := range []struct {
		method, code string
		add          bool
		mode         firewalld.Mode
	}{
		{"zone.addSource", firewalld.CodeZoneAlreadySet, true, firewalld.ModeZone},
		{"zone.removeSource", firewalld.CodeUnknownSource, false, firewalld.ModeZone},
		{"zone.removeSource", firewalld.CodeNotEnabled, false, firewalld.ModeZone},
		{"config.zone.addSource", firewalld.CodeAlreadyEnabled, true, firewalld.ModeZone},
		{"config.zone.removeSource", firewalld.CodeNotEnabled, false, firewalld.ModeZone},
		{"ipset.addEntry", firewalld.CodeAlreadyEnabled, true, firewalld.ModeIPSet},
		{"ipset.removeEntry", firewalld.CodeNotEnabled, false, firewalld.ModeIPSet},
	} {
		t.Run(tc.method+"/"+tc.code, func(t *testing.T) {
			fake, c := newFake(t, firewalld.Config{Mode: tc.mode, Permanent: true, AllowReload: true})
			p := pfx("198.51.100.32/27")
			if !tc.add {
				if err := c.Add(ctx(t), p); err != nil {
					t.Fatal(err)
				}
			}
			fake.FailNext(tc.method, tc.code, 1)
			var err error
			if tc.add {
				err = c.Add(ctx(t), p)
			} else {
				err = c.Remove(ctx(t), p)
			}
			if err != nil {
				t.Fatalf("%s answering %s: %v, want success", tc.method, tc.code, err)
			}
			if fake.Calls(tc.method) == 0 {
				t.Fatalf("%s was never called", tc.method)
			}
		})
	}
}

func TestErrorsClassified(t *testing.T) {
	fake, c := newFake(t, firewalld.Config{Mode: firewalld.ModeZone})
	fake.FailNext("zone.addSource", firewalld.CodeZoneConflict, 1)
	err := c.Add(ctx(t), pfx("198.51.100.32/27"))
	if !firewalld.IsCode(err, firewalld.CodeZoneConflict) {
		t.Fatalf("Add = %v, want ZONE_CONFLICT", err)
	}
	if firewalld.IsUnavailable(err) {
		t.Errorf("ZONE_CONFLICT classified as unavailable")
	}
	if !strings.Contains(err.Error(), `zone.addSource("drop", "198.51.100.32/27")`) {
		t.Errorf("error %q does not say which call failed", err)
	}
	fake.Stop()
	err = c.Add(ctx(t), pfx("198.51.100.32/27"))
	if !firewalld.IsUnavailable(err) {
		t.Fatalf("Add with firewalld stopped = %v, want unavailable", err)
	}
	if err := c.Up(ctx(t)); !firewalld.IsUnavailable(err) {
		t.Fatalf("Up with firewalld stopped = %v, want unavailable", err)
	}
	fake.Start()
	fake.SetState("INIT")
	if err := c.Up(ctx(t)); !firewalld.IsCode(err, firewalld.CodeNotRunning) {
		t.Fatalf("Up while INIT = %v, want NOT_RUNNING", err)
	}
}

func TestBatchValidatedWhole(t *testing.T) {
	fake, c := newFake(t, firewalld.Config{Mode: firewalld.ModeZone})
	for name, batch := range map[string][]netip.Prefix{
		"invalid": {netip.MustParsePrefix("198.51.100.32/27"), {}},
		"slash 0": {netip.MustParsePrefix("198.51.100.32/27"), netip.MustParsePrefix("0.0.0.0/0")},
		"v6 /0":   {netip.MustParsePrefix("198.51.100.32/27"), netip.MustParsePrefix("::/0")},
	} {
		if err := c.Add(ctx(t), batch); err == nil {
			t.Errorf("%s: Add succeeded", name)
		}
	}
	if n := fake.Calls("zone.addSource"); n != 0 || len(fake.RuntimeSources("drop")) != 0 {
		t.Errorf("a refused batch made %d calls, left %v", n, fake.RuntimeSources("drop"))
	}
	// A mapped IPv4 prefix is canonicalised to IPv4.
	if err := c.Add(ctx(t), pfx("::ffff:198.51.100.65/123")); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"198.51.100.64/27"}, fake.RuntimeSources("drop")); diff != "" {
		t.Errorf("mapped prefix (-want +got):\n%s", diff)
	}
}

func TestZoneLeavesOthersAlone(t *testing.T) {
	fake, c := newFake(t, firewalld.Config{Mode: firewalld.ModeZone})
	fake.AddRuntimeSource("drop", "203.0.113.0/24")   // someone else's
	fake.AddRuntimeSource("drop", "198.51.100.33/27") // host bits: not canonical, not ours
	added, removed, err := c.Sync(ctx(t), pfx("198.51.100.64/27"), pfx("198.51.100.64/27", "203.0.113.0/24", "198.51.100.96/27"))
	if err != nil {
		t.Fatal(err)
	}
	// 203.0.113.0/24 is owned but not desired: it goes; the non-canonical one stays.
	if added != 1 || removed != 1 {
		t.Errorf("Sync = +%d -%d, want +1 -1", added, removed)
	}
	if diff := cmp.Diff([]string{"198.51.100.33/27", "198.51.100.64/27"}, fake.RuntimeSources("drop")); diff != "" {
		t.Errorf("sources (-want +got):\n%s", diff)
	}
}

func TestIPSetSetupCreatesAndReloads(t *testing.T) {
	fake, c := newFake(t, firewalld.Config{Mode: firewalld.ModeIPSet, AllowReload: true, IPSetMaxElem: 200000})
	if n := fake.Calls("reload"); n != 1 {
		t.Errorf("Setup reloaded %d times, want 1 (to load the new sets)", n)
	}
	s, _, ok := fake.PermanentIPSet("synguard4")
	if !ok || s.Type != "hash:net" || s.Options["maxelem"] != "200000" || s.Options["family"] != "inet" {
		t.Errorf("permanent synguard4 = %+v, %v", s, ok)
	}
	s6, _, ok := fake.PermanentIPSet("synguard6")
	if !ok || s6.Options["family"] != "inet6" {
		t.Errorf("permanent synguard6 = %+v, %v", s6, ok)
	}
	want := []string{"ipset:synguard4", "ipset:synguard6"}
	if diff := cmp.Diff(want, fake.RuntimeSources("drop")); diff != "" {
		t.Errorf("runtime bindings (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want, fake.PermanentSources("drop")); diff != "" {
		t.Errorf("permanent bindings (-want +got):\n%s", diff)
	}
	// A second Setup (responder restart) changes nothing and does not reload.
	if err := c.Setup(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if n := fake.Calls("reload"); n != 1 {
		t.Errorf("second Setup reloaded: %d reloads", n)
	}
}

func TestIPSetSetupWithoutReload(t *testing.T) {
	fake, addr := firewalldtest.Start(t)
	conn, err := dbus.Connect(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c, err := firewalld.New(conn, firewalld.Config{Mode: firewalld.ModeIPSet}, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = c.Setup(ctx(t))
	if err == nil || !strings.Contains(err.Error(), "firewall-cmd --reload") {
		t.Fatalf("Setup without AllowReload = %v, want advice to reload", err)
	}
	if fake.Calls("reload") != 0 {
		t.Fatal("reloaded although not allowed")
	}
	fake.Reload() // the operator does it
	if err := c.Setup(ctx(t)); err != nil {
		t.Fatalf("Setup after the operator's reload: %v", err)
	}
}

func TestIPSetSetupRefusesForeignSet(t *testing.T) {
	fake, addr := firewalldtest.Start(t)
	conn, err := dbus.Connect(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// Someone's hash:ip set under our name.
	var p dbus.ObjectPath
	err = conn.Object(firewalld.BusName, firewalld.ConfigPath).Call(firewalld.InterfaceConfig+".addIPSet", 0, "synguard4",
		firewalld.IPSetSettings{Type: "hash:ip", Options: map[string]string{}, Entries: []string{}}).Store(&p)
	if err != nil {
		t.Fatal(err)
	}
	_ = fake
	c, _ := firewalld.New(conn, firewalld.Config{Mode: firewalld.ModeIPSet, AllowReload: true}, nil)
	if err := c.Setup(ctx(t)); err == nil || !strings.Contains(err.Error(), "not synguard's") {
		t.Fatalf("Setup = %v, want refusal of a foreign set", err)
	}
}

func TestIPSetAddBulkAndSingle(t *testing.T) {
	fake, c := newFake(t, firewalld.Config{Mode: firewalld.ModeIPSet, AllowReload: true})
	if err := c.Add(ctx(t), pfx("198.51.100.32/27", "2001:db8:1::/64")); err != nil {
		t.Fatal(err)
	}
	if fake.Calls("ipset.addEntry") != 2 || fake.Calls("ipset.setEntries") != 0 {
		t.Errorf("2 prefixes: %d addEntry, %d setEntries; want single calls", fake.Calls("ipset.addEntry"), fake.Calls("ipset.setEntries"))
	}
	var many []netip.Prefix
	for i := 0; i < 200; i++ {
		many = append(many, netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 18, byte(i), 0}), 24))
	}
	fake.ResetCalls()
	if err := c.Add(ctx(t), many); err != nil {
		t.Fatal(err)
	}
	if fake.Calls("ipset.setEntries") != 1 || fake.Calls("ipset.addEntry") != 0 {
		t.Errorf("200 prefixes: %d setEntries, %d addEntry; want one setEntries", fake.Calls("ipset.setEntries"), fake.Calls("ipset.addEntry"))
	}
	es, _ := fake.RuntimeEntries("synguard4")
	if len(es) != 201 {
		t.Errorf("synguard4 holds %d entries, want 201", len(es))
	}
	// Nested: a /28 inside a /24 already there adds nothing; a /16 around
	// 200 entries replaces them.
	fake.ResetCalls()
	if err := c.Add(ctx(t), pfx("198.18.5.16/28")); err != nil {
		t.Fatal(err)
	}
	if n := fake.Calls("ipset.addEntry") + fake.Calls("ipset.setEntries"); n != 0 {
		t.Errorf("covered prefix made %d calls", n)
	}
	if err := c.Add(ctx(t), pfx("198.18.0.0/16")); err != nil {
		t.Fatal(err)
	}
	es, _ = fake.RuntimeEntries("synguard4")
	if diff := cmp.Diff([]string{"198.18.0.0/16", "198.51.100.32/27"}, es); diff != "" {
		t.Errorf("after the covering /16 (-want +got):\n%s", diff)
	}
	if !fake.Blocked(netip.MustParseAddr("198.18.3.3")) || !fake.Blocked(netip.MustParseAddr("2001:db8:1::9")) {
		t.Error("not blocked")
	}
	if err := c.Remove(ctx(t), pfx("198.18.0.0/16", "198.51.100.32/27", "2001:db8:1::/64")); err != nil {
		t.Fatal(err)
	}
	es, _ = fake.RuntimeEntries("synguard4")
	es6, _ := fake.RuntimeEntries("synguard6")
	if len(es)+len(es6) != 0 {
		t.Errorf("after Remove: %v %v", es, es6)
	}
}

func TestIPSetSyncRestoresAfterReload(t *testing.T) {
	fake, c := newFake(t, firewalld.Config{Mode: firewalld.ModeIPSet, AllowReload: true})
	var desired []netip.Prefix
	for i := 0; i < 1000; i++ {
		desired = append(desired, netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 18, byte(i / 8), byte(i % 8 * 32)}), 27))
	}
	desired = append(desired, pfx("2001:db8:2::/64")...)
	if a, r, err := c.Sync(ctx(t), desired, desired); err != nil || a != 1001 || r != 0 {
		t.Fatalf("first Sync = +%d -%d %v, want +1001", a, r, err)
	}
	fake.Reload()
	fake.ResetCalls()
	a, r, err := c.Sync(ctx(t), desired, desired)
	if err != nil || a != 1001 || r != 0 {
		t.Fatalf("Sync after reload = +%d -%d %v, want +1001 -0", a, r, err)
	}
	if n := fake.Calls("ipset.setEntries"); n != 1 {
		t.Errorf("restore used %d setEntries, want 1 for the IPv4 set", n)
	}
	// In step: no change call at all.
	fake.ResetCalls()
	if a, r, err := c.Sync(ctx(t), desired, desired); err != nil || a+r != 0 {
		t.Fatalf("Sync in step = +%d -%d %v", a, r, err)
	}
	if n := fake.Calls("ipset.setEntries") + fake.Calls("ipset.addEntry") + fake.Calls("ipset.removeEntry"); n != 0 {
		t.Errorf("Sync in step made %d change calls", n)
	}
	// An owned prefix no longer desired goes; one owned by nobody stays.
	fake.ResetCalls()
	if a, r, err := c.Sync(ctx(t), desired[1:], desired); err != nil || a != 0 || r != 1 {
		t.Fatalf("Sync dropping one = +%d -%d %v", a, r, err)
	}
}

func TestIPSetSyncRebinds(t *testing.T) {
	fake, c := newFake(t, firewalld.Config{Mode: firewalld.ModeIPSet, AllowReload: true})
	conn, _ := dbus.Connect(fake.Addr())
	defer conn.Close()
	var z string
	if err := conn.Object(firewalld.BusName, firewalld.ObjectPath).Call(firewalld.InterfaceZone+".removeSource", 0, "drop", "ipset:synguard4").Store(&z); err != nil {
		t.Fatal(err)
	}
	if a, _, err := c.Sync(ctx(t), nil, nil); err != nil || a != 1 {
		t.Fatalf("Sync = +%d %v, want the binding repaired", a, err)
	}
}

func TestAfterRestartClearsStaleRules(t *testing.T) {
	for _, mode := range []firewalld.Mode{firewalld.ModeZone, firewalld.ModeIPSet} {
		t.Run(string(mode), func(t *testing.T) {
			fake, c := newFake(t, firewalld.Config{Mode: mode, AllowReload: true})
			p := pfx("198.51.100.32/27")
			if err := c.Add(ctx(t), p); err != nil {
				t.Fatal(err)
			}
			fake.Crash()
			fake.Start()
			attacker := netip.MustParseAddr("198.51.100.33")
			if stale := fake.Blocked(attacker); stale != (mode == firewalld.ModeZone) {
				t.Fatalf("after the crash, blocked = %v; zone sources leave stale rules, ipset entries do not", stale)
			}
			if err := c.AfterRestart(ctx(t)); err != nil {
				t.Fatal(err)
			}
			if _, _, err := c.Sync(ctx(t), p, p); err != nil {
				t.Fatal(err)
			}
			if err := c.Remove(ctx(t), p); err != nil {
				t.Fatal(err)
			}
			if fake.Blocked(attacker) {
				t.Fatal("still blocked after AfterRestart + Remove")
			}
		})
	}
}

func TestAfterRestartIPSetNeedsNoReload(t *testing.T) {
	fake, c := newFake(t, firewalld.Config{Mode: firewalld.ModeIPSet, AllowReload: true})
	fake.ResetCalls()
	fake.Restart()
	if err := c.AfterRestart(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if n := fake.Calls("reload"); n != 0 {
		t.Errorf("ipset mode: AfterRestart reloaded %d times, want 0", n)
	}
}

func TestAfterRestartWaitsForRunning(t *testing.T) {
	fake, c := newFake(t, firewalld.Config{Mode: firewalld.ModeZone, AllowReload: true})
	fake.Stop()
	go func() {
		time.Sleep(300 * time.Millisecond)
		fake.Start()
	}()
	if err := c.AfterRestart(ctx(t)); err != nil {
		t.Fatalf("AfterRestart while firewalld comes back: %v", err)
	}
	if n := fake.Calls("reload"); n != 1 {
		t.Errorf("zone mode: %d reloads, want 1", n)
	}
}

func TestAfterRestartWithoutReload(t *testing.T) {
	fake, c := newFake(t, firewalld.Config{Mode: firewalld.ModeZone})
	if err := c.Add(ctx(t), pfx("198.51.100.32/27")); err != nil {
		t.Fatal(err)
	}
	fake.Crash()
	fake.Start()
	if err := c.AfterRestart(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if fake.Calls("reload") != 0 {
		t.Fatal("reloaded although not allowed")
	}
}

func TestPurge(t *testing.T) {
	t.Run("zone", func(t *testing.T) {
		fake, c := newFake(t, firewalld.Config{Mode: firewalld.ModeZone})
		owned := pfx("198.51.100.32/27", "198.51.100.64/27")
		if err := c.Add(ctx(t), owned); err != nil {
			t.Fatal(err)
		}
		fake.AddPermanentSource("drop", "198.51.100.64/27") // from an earlier Permanent run
		fake.AddRuntimeSource("drop", "203.0.113.0/24")     // not ours
		if err := c.Purge(ctx(t), owned); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{"203.0.113.0/24"}, fake.RuntimeSources("drop")); diff != "" {
			t.Errorf("runtime after Purge (-want +got):\n%s", diff)
		}
		if got := fake.PermanentSources("drop"); len(got) != 0 {
			t.Errorf("permanent after Purge: %v", got)
		}
	})
	t.Run("ipset", func(t *testing.T) {
		fake, c := newFake(t, firewalld.Config{Mode: firewalld.ModeIPSet, Permanent: true, AllowReload: true})
		owned := pfx("198.51.100.32/27", "2001:db8:1::/64")
		if err := c.Add(ctx(t), owned); err != nil {
			t.Fatal(err)
		}
		if _, es, _ := fake.PermanentIPSet("synguard4"); len(es) != 1 {
			t.Errorf("Permanent ipset mode: permanent entries %v", es)
		}
		if err := c.Purge(ctx(t), owned); err != nil {
			t.Fatal(err)
		}
		if got := fake.RuntimeSources("drop"); len(got) != 0 {
			t.Errorf("runtime bindings after Purge: %v", got)
		}
		if got := fake.PermanentSources("drop"); len(got) != 0 {
			t.Errorf("permanent bindings after Purge: %v", got)
		}
		for _, n := range []string{"synguard4", "synguard6"} {
			if _, _, ok := fake.PermanentIPSet(n); ok {
				t.Errorf("permanent ipset %s survived Purge", n)
			}
			if es, _ := fake.RuntimeEntries(n); len(es) != 0 {
				t.Errorf("runtime ipset %s still holds %v", n, es)
			}
		}
		if fake.Blocked(netip.MustParseAddr("198.51.100.33")) {
			t.Error("still blocked after Purge")
		}
	})
}

func TestWatch(t *testing.T) {
	fake, c := newFake(t, firewalld.Config{Mode: firewalld.ModeZone})
	wctx, cancel := context.WithCancel(ctx(t))
	events, err := c.Watch(wctx)
	if err != nil {
		t.Fatal(err)
	}
	next := func(want firewalld.EventKind) {
		t.Helper()
		select {
		case ev := <-events:
			if ev.Kind != want {
				t.Fatalf("event %v, want %v", ev.Kind, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no %v event within 5s", want)
		}
	}
	fake.Reload()
	next(firewalld.EventReloaded)
	fake.Stop()
	next(firewalld.EventStopped)
	fake.Start()
	next(firewalld.EventStarted)
	fake.Crash()
	next(firewalld.EventStopped)
	fake.Start()
	next(firewalld.EventStarted)
	select {
	case ev := <-events:
		t.Fatalf("unexpected event %+v", ev)
	case <-time.After(200 * time.Millisecond):
	}
	cancel()
	select {
	case _, ok := <-events:
		if ok {
			t.Fatal("event after cancel")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("channel not closed after cancel")
	}
}

func TestCallTimeout(t *testing.T) {
	fake, addr := firewalldtest.Start(t)
	conn, _ := dbus.Connect(addr)
	defer conn.Close()
	c, _ := firewalld.New(conn, firewalld.Config{Mode: firewalld.ModeZone, CallTimeout: 100 * time.Millisecond}, nil)
	fake.SetDelay("zone.getSources", time.Second)
	err := c.Add(context.Background(), pfx("198.51.100.32/27"))
	if !firewalld.IsUnavailable(err) {
		t.Fatalf("Add against a stuck firewalld = %v, want unavailable (timeout)", err)
	}
}

// Concurrent Adds in ipset mode go in together: while one batch is applied
// the others queue and follow as one setEntries.
func TestIPSetConcurrentAddsBatched(t *testing.T) {
	fake, c := newFake(t, firewalld.Config{Mode: firewalld.ModeIPSet, AllowReload: true})
	fake.SetDelay("ipset.addEntry", 50*time.Millisecond)
	fake.SetDelay("ipset.setEntries", 50*time.Millisecond)
	fake.ResetCalls()
	const n = 100
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		go func() {
			errs <- c.Add(context.Background(), []netip.Prefix{netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 18, byte(i), 0}), 24)})
		}()
	}
	for i := 0; i < n; i++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	es, _ := fake.RuntimeEntries("synguard4")
	if len(es) != n {
		t.Fatalf("%d entries, want %d", len(es), n)
	}
	calls := fake.Calls("ipset.addEntry") + fake.Calls("ipset.setEntries")
	if calls > 10 {
		t.Errorf("%d concurrent Adds took %d change calls, want a few batches", n, calls)
	}
	t.Logf("%d concurrent Adds: %d addEntry, %d setEntries", n, fake.Calls("ipset.addEntry"), fake.Calls("ipset.setEntries"))
}
