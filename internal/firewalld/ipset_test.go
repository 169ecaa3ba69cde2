package firewalld_test

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/godbus/dbus/v5"
	"github.com/google/go-cmp/cmp"

	"github.com/synguard/synguard/internal/firewall"
	"github.com/synguard/synguard/internal/firewalld"
	"github.com/synguard/synguard/internal/firewalld/firewalldtest"
)

func TestIPSetPrepareCreatesAndReloads(t *testing.T) {
	fake, c := newFake(t, firewalld.Config{Mode: firewalld.ModeIPSet, AllowReload: true, IPSetMaxElem: 200000})
	if n := fake.Calls("reload"); n != 1 {
		t.Errorf("Prepare reloaded %d times, want 1 (to load the new sets)", n)
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
	// A second Prepare (responder restart) changes nothing and does not reload.
	if err := c.Prepare(ctx(t), pfx("198.51.100.32/27")); err != nil {
		t.Fatal(err)
	}
	if n := fake.Calls("reload"); n != 1 {
		t.Errorf("second Prepare reloaded: %d reloads", n)
	}
}

func TestIPSetPrepareWithoutReload(t *testing.T) {
	fake, addr := firewalldtest.Start(t)
	c := clientOn(t, addr, firewalld.Config{Mode: firewalld.ModeIPSet})
	err := c.Prepare(ctx(t), nil)
	if err == nil || !strings.Contains(err.Error(), "firewall-cmd --reload") {
		t.Fatalf("Prepare without AllowReload = %v, want advice to reload", err)
	}
	if fake.Calls("reload") != 0 {
		t.Fatal("reloaded although not allowed")
	}
	fake.Reload() // the operator does it
	if err := c.Prepare(ctx(t), nil); err != nil {
		t.Fatalf("Prepare after the operator's reload: %v", err)
	}
}

func TestIPSetPrepareRefusesForeignSet(t *testing.T) {
	_, addr := firewalldtest.Start(t)
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
	c := clientOn(t, addr, firewalld.Config{Mode: firewalld.ModeIPSet, AllowReload: true})
	if err := c.Prepare(ctx(t), nil); err == nil || !strings.Contains(err.Error(), "not synguard's") {
		t.Fatalf("Prepare = %v, want refusal of a foreign set", err)
	}
}

func TestIPSetAddBulkAndSingle(t *testing.T) {
	fake, c := newFake(t, firewalld.Config{Mode: firewalld.ModeIPSet, AllowReload: true})
	add(t, c, pfx("198.51.100.32/27", "2001:db8:1::/64"))
	if fake.Calls("ipset.addEntry") != 2 || fake.Calls("ipset.setEntries") != 0 {
		t.Errorf("2 prefixes: %d addEntry, %d setEntries; want single calls", fake.Calls("ipset.addEntry"), fake.Calls("ipset.setEntries"))
	}
	many := filler(200)
	fake.ResetCalls()
	add(t, c, many)
	if fake.Calls("ipset.setEntries") != 1 || fake.Calls("ipset.addEntry") != 0 {
		t.Errorf("200 prefixes: %d setEntries, %d addEntry; want one setEntries", fake.Calls("ipset.setEntries"), fake.Calls("ipset.addEntry"))
	}
	es, _ := fake.RuntimeEntries("synguard4")
	if len(es) != 201 {
		t.Errorf("synguard4 holds %d entries, want 201", len(es))
	}
	// Nested: a /29 inside a /27 already there is applied by it and adds
	// nothing; a /16 around 200 entries replaces them.
	fake.ResetCalls()
	add(t, c, pfx("198.18.0.8/29"))
	if n := fake.Calls("ipset.addEntry") + fake.Calls("ipset.setEntries"); n != 0 {
		t.Errorf("covered prefix made %d calls", n)
	}
	add(t, c, pfx("198.18.0.0/16"))
	es, _ = fake.RuntimeEntries("synguard4")
	if diff := cmp.Diff([]string{"198.18.0.0/16", "198.51.100.32/27"}, es); diff != "" {
		t.Errorf("after the covering /16 (-want +got):\n%s", diff)
	}
	if !fake.Blocked(netip.MustParseAddr("198.18.3.3")) || !fake.Blocked(netip.MustParseAddr("2001:db8:1::9")) {
		t.Error("not blocked")
	}
	remove(t, c, pfx("198.18.0.0/16", "198.51.100.32/27", "2001:db8:1::/64"))
	es, _ = fake.RuntimeEntries("synguard4")
	es6, _ := fake.RuntimeEntries("synguard6")
	if len(es)+len(es6) != 0 {
		t.Errorf("after Remove: %v %v", es, es6)
	}
}

// One entry firewalld refuses spoils a setEntries: the Client finds it by
// single calls and applies the rest.
func TestIPSetBulkRefusalFallsBack(t *testing.T) {
	fake, c := newFake(t, firewalld.Config{Mode: firewalld.ModeIPSet, AllowReload: true})
	ps := filler(40)
	fake.Refuse(ps[7].String(), firewalld.CodeInvalidEntry)
	rs, err := c.Add(ctx(t), ents(ps))
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range rs {
		want := firewall.Applied
		if i == 7 {
			want = firewall.Refused
		}
		if r.Outcome != want {
			t.Errorf("%v: %v (%v), want %v", r.Prefix, r.Outcome, r.Err, want)
		}
	}
	if es, _ := fake.RuntimeEntries("synguard4"); len(es) != 39 {
		t.Errorf("%d entries, want 39", len(es))
	}
}

// A full set refuses the entries beyond maxelem, each for itself.
func TestIPSetFull(t *testing.T) {
	fake, c := newFake(t, firewalld.Config{Mode: firewalld.ModeIPSet, AllowReload: true, IPSetMaxElem: 30})
	rs, err := c.Add(ctx(t), ents(filler(32)))
	if err != nil {
		t.Fatal(err)
	}
	if n := len(firewall.Failed(rs)); n != 2 {
		t.Errorf("%d refused, want the 2 beyond maxelem: %v", n, firewall.Failed(rs))
	}
	if es, _ := fake.RuntimeEntries("synguard4"); len(es) != 30 {
		t.Errorf("%d entries, want 30", len(es))
	}
}

func TestIPSetSyncRestoresAfterReload(t *testing.T) {
	fake, c := newFake(t, firewalld.Config{Mode: firewalld.ModeIPSet, AllowReload: true})
	desired := append(filler(1000), pfx("2001:db8:2::/64")...)
	if sr := syncOK(t, c, desired, desired); sr.Added != 1001 || sr.Removed != 0 {
		t.Fatalf("first Sync = +%d -%d, want +1001", sr.Added, sr.Removed)
	}
	fake.Reload()
	fake.ResetCalls()
	sr := syncOK(t, c, desired, desired)
	if sr.Added != 1001 || sr.Removed != 0 || len(sr.Results) != 1001 || len(firewall.Failed(sr.Results)) != 0 {
		t.Fatalf("Sync after reload = +%d -%d (%d results), want +1001 -0", sr.Added, sr.Removed, len(sr.Results))
	}
	if n := fake.Calls("ipset.setEntries"); n != 1 {
		t.Errorf("restore used %d setEntries, want 1 for the IPv4 set", n)
	}
	// In step: no change call at all.
	fake.ResetCalls()
	if sr := syncOK(t, c, desired, desired); sr.Added+sr.Removed != 0 {
		t.Fatalf("Sync in step = +%d -%d", sr.Added, sr.Removed)
	}
	if n := fake.Calls("ipset.setEntries") + fake.Calls("ipset.addEntry") + fake.Calls("ipset.removeEntry"); n != 0 {
		t.Errorf("Sync in step made %d change calls", n)
	}
	// An owned prefix no longer desired goes.
	if sr := syncOK(t, c, desired[1:], desired); sr.Added != 0 || sr.Removed != 1 {
		t.Fatalf("Sync dropping one = +%d -%d", sr.Added, sr.Removed)
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
	if sr := syncOK(t, c, nil, nil); sr.Added != 1 {
		t.Fatalf("Sync = +%d, want the binding repaired", sr.Added)
	}
}
