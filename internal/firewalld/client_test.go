package firewalld_test

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"
	"github.com/google/go-cmp/cmp"

	"github.com/synguard/synguard/internal/firewall"
	"github.com/synguard/synguard/internal/firewalld"
	"github.com/synguard/synguard/internal/firewalld/firewalldtest"
)

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name  string
		edit  func(*firewalld.Config)
		field string
	}{
		{"no mode", func(c *firewalld.Config) { c.Mode = "" }, "mode"},
		{"bad mode", func(c *firewalld.Config) { c.Mode = "nft" }, "mode"},
		{"empty zone", func(c *firewalld.Config) { c.Zone = "" }, "zone"},
		{"same set names", func(c *firewalld.Config) { c.IPSet4, c.IPSet6 = "a", "a" }, "ipset_ipv6"},
		{"bad set name", func(c *firewalld.Config) { c.IPSet4 = "a b" }, "ipset_ipv4"},
		{"empty set name", func(c *firewalld.Config) { c.IPSet6 = "" }, "ipset_ipv6"},
		{"zero maxelem", func(c *firewalld.Config) { c.IPSetMaxElem = 0 }, "ipset_max_elements"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := firewalld.DefaultConfig()
			tc.edit(&c)
			err := c.Validate()
			ce, ok := err.(*firewalld.ConfigError)
			if !ok || ce.Field != tc.field {
				t.Fatalf("Validate(%+v) = %v, want a ConfigError for %s", c, err, tc.field)
			}
		})
	}
	if err := firewalld.DefaultConfig().Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	if got := firewalld.DefaultConfig().Capacity(); got != firewalld.DefaultIPSetMaxElem {
		t.Errorf("ipset capacity %d", got)
	}
	if got := (firewalld.Config{Mode: firewalld.ModeZone}).Capacity(); got != 0 {
		t.Errorf("zone capacity %d, want 0 (no limit)", got)
	}
}

func TestNewDefaults(t *testing.T) {
	conn := &dbus.Conn{}
	if _, err := firewalld.New(conn, firewalld.Config{}, nil); err == nil || !strings.Contains(err.Error(), "unknown mode") {
		t.Fatalf("New without a mode = %v", err)
	}
	c, err := firewalld.New(conn, firewalld.Config{Mode: firewalld.ModeIPSet}, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := c.Config()
	if got.Zone != "drop" || got.IPSet4 != "synguard4" || got.IPSet6 != "synguard6" || got.IPSetMaxElem != 65536 {
		t.Errorf("empty fields became %+v; the zone must never be firewalld's default zone", got)
	}
	d := c.Describe()
	if d.Backend != "firewalld" || d.Mode != "ipset" || !strings.Contains(d.Where, "synguard4") || d.String() != "firewalld/ipset" {
		t.Errorf("Describe = %+v", d)
	}
}

func TestZoneAddRemoveIdempotent(t *testing.T) {
	fake, c := newFake(t, firewalld.Config{Mode: firewalld.ModeZone, Permanent: true})
	ps := pfx("198.51.100.33/27", "2001:db8:1::5/64", "198.51.100.32/27")
	add(t, c, ps)
	want := []string{"198.51.100.32/27", "2001:db8:1::/64"}
	if diff := cmp.Diff(want, fake.RuntimeSources("drop")); diff != "" {
		t.Errorf("runtime sources (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want, fake.PermanentSources("drop")); diff != "" {
		t.Errorf("permanent sources (-want +got):\n%s", diff)
	}
	// Again: synguard's own, Applied, and no add call is made.
	fake.ResetCalls()
	add(t, c, ps)
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
	remove(t, c, pfx("198.51.100.32/27", "203.0.113.0/24"))
	remove(t, c, pfx("198.51.100.32/27"))
	if diff := cmp.Diff([]string{"2001:db8:1::/64"}, fake.RuntimeSources("drop")); diff != "" {
		t.Errorf("after Remove (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"2001:db8:1::/64"}, fake.PermanentSources("drop")); diff != "" {
		t.Errorf("permanent after Remove (-want +got):\n%s", diff)
	}
}

// firewalld's idempotency answers are success even when the Client's view
// is stale; an add that finds the source there first (another responder of
// an HA pair, an operator) is not synguard's.
func TestIdempotencyCodes(t *testing.T) {
	for _, tc := range []struct {
		method, code string
		add          bool
		mode         firewalld.Mode
		want         firewall.Outcome
	}{
		{"zone.addSource", firewalld.CodeZoneAlreadySet, true, firewalld.ModeZone, firewall.Preexisting},
		{"zone.removeSource", firewalld.CodeUnknownSource, false, firewalld.ModeZone, firewall.Removed},
		{"zone.removeSource", firewalld.CodeNotEnabled, false, firewalld.ModeZone, firewall.Removed},
		{"config.zone.addSource", firewalld.CodeAlreadyEnabled, true, firewalld.ModeZone, firewall.Applied},
		{"config.zone.removeSource", firewalld.CodeNotEnabled, false, firewalld.ModeZone, firewall.Removed},
		{"ipset.addEntry", firewalld.CodeAlreadyEnabled, true, firewalld.ModeIPSet, firewall.Applied},
		{"ipset.removeEntry", firewalld.CodeNotEnabled, false, firewalld.ModeIPSet, firewall.Removed},
	} {
		t.Run(tc.method+"/"+tc.code, func(t *testing.T) {
			fake, c := newFake(t, firewalld.Config{Mode: tc.mode, Permanent: true, AllowReload: true})
			p := pfx("198.51.100.32/27")
			if !tc.add {
				add(t, c, p)
			}
			fake.FailNext(tc.method, tc.code, 1)
			var rs []firewall.Result
			var err error
			if tc.add {
				rs, err = c.Add(ctx(t), ents(p))
			} else {
				rs, err = c.Remove(ctx(t), p)
			}
			if err != nil || len(rs) != 1 || rs[0].Outcome != tc.want {
				t.Fatalf("%s answering %s: %v, %v; want %v", tc.method, tc.code, rs, err, tc.want)
			}
			if fake.Calls(tc.method) == 0 {
				t.Fatalf("%s was never called", tc.method)
			}
		})
	}
}

func TestErrorsClassified(t *testing.T) {
	fake, c := newFake(t, firewalld.Config{Mode: firewalld.ModeZone})
	// One prefix's ZONE_CONFLICT is its result; the others go in.
	fake.AddRuntimeSource("trusted", "198.51.100.32/27")
	rs, err := c.Add(ctx(t), ents(pfx("198.51.100.32/27", "198.51.100.64/27")))
	if err != nil {
		t.Fatal(err)
	}
	if rs[0].Outcome != firewall.Refused || !firewalld.IsCode(rs[0].Err, firewalld.CodeZoneConflict) || rs[1].Outcome != firewall.Applied {
		t.Fatalf("Add = %v, want the first refused with ZONE_CONFLICT, the second applied", rs)
	}
	if firewalld.IsUnavailable(rs[0].Err) {
		t.Errorf("ZONE_CONFLICT classified as unavailable")
	}
	if !strings.Contains(rs[0].Err.Error(), `zone.addSource("drop", "198.51.100.32/27")`) {
		t.Errorf("error %q does not say which call failed", rs[0].Err)
	}
	fake.Stop()
	_, err = c.Add(ctx(t), ents(pfx("198.51.100.96/27")))
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

func TestNotPrepared(t *testing.T) {
	fake, addr := firewalldtest.Start(t)
	c := clientOn(t, addr, firewalld.Config{Mode: firewalld.ModeZone})
	if _, err := c.Add(ctx(t), ents(pfx("198.51.100.32/27"))); !errors.Is(err, firewall.ErrNotPrepared) {
		t.Fatalf("Add before Prepare = %v, want ErrNotPrepared", err)
	}
	if fake.Calls("zone.addSource") != 0 {
		t.Fatal("an unprepared Client changed firewalld")
	}
}

func TestInvalidRefusedPerPrefix(t *testing.T) {
	fake, c := newFake(t, firewalld.Config{Mode: firewalld.ModeZone})
	batch := []netip.Prefix{netip.MustParsePrefix("198.51.100.32/27"), {}, netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0")}
	rs, err := c.Add(ctx(t), ents(batch))
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []firewall.Outcome{firewall.Applied, firewall.Refused, firewall.Refused, firewall.Refused} {
		if rs[i].Outcome != want {
			t.Errorf("%v: %v (%v), want %v", batch[i], rs[i].Outcome, rs[i].Err, want)
		}
	}
	if n := fake.Calls("zone.addSource"); n != 1 {
		t.Errorf("%d addSource calls, want 1: an invalid prefix is never sent", n)
	}
	// A mapped IPv4 prefix is canonicalised to IPv4.
	add(t, c, pfx("::ffff:198.51.100.65/123"))
	if diff := cmp.Diff([]string{"198.51.100.32/27", "198.51.100.64/27"}, fake.RuntimeSources("drop")); diff != "" {
		t.Errorf("mapped prefix (-want +got):\n%s", diff)
	}
}

func TestZoneLeavesOthersAlone(t *testing.T) {
	fake, c := newFake(t, firewalld.Config{Mode: firewalld.ModeZone})
	fake.AddRuntimeSource("drop", "203.0.113.0/24")   // in owned: synguard's from an earlier run
	fake.AddRuntimeSource("drop", "198.51.100.33/27") // host bits: not canonical, not ours
	fake.AddRuntimeSource("drop", "192.0.2.0/24")     // an operator's own
	sr := syncOK(t, c, pfx("198.51.100.64/27", "192.0.2.0/24"), pfx("198.51.100.64/27", "203.0.113.0/24", "198.51.100.96/27"))
	// 203.0.113.0/24 is owned but not desired: it goes; the others stay.
	if sr.Added != 1 || sr.Removed != 1 {
		t.Errorf("Sync = +%d -%d, want +1 -1", sr.Added, sr.Removed)
	}
	if got := outcome(sr.Results, netip.MustParsePrefix("192.0.2.0/24")); got != firewall.Preexisting {
		t.Errorf("the operator's desired source is %v, want preexisting", got)
	}
	if diff := cmp.Diff([]string{"192.0.2.0/24", "198.51.100.33/27", "198.51.100.64/27"}, fake.RuntimeSources("drop")); diff != "" {
		t.Errorf("sources (-want +got):\n%s", diff)
	}
	// Remove never lifts the operator's source, even if asked.
	rs, err := c.Remove(ctx(t), pfx("192.0.2.0/24"))
	if err != nil || rs[0].Outcome != firewall.Preexisting {
		t.Errorf("Remove of the operator's source = %v %v, want preexisting", rs, err)
	}
	// A source owned per Sync is synguard's from then on.
	fake.AddRuntimeSource("drop", "198.51.100.128/27")
	syncOK(t, c, pfx("198.51.100.128/27"), pfx("198.51.100.128/27"))
	remove(t, c, pfx("198.51.100.128/27"))
}

func TestCallTimeout(t *testing.T) {
	fake, c := newFake(t, firewalld.Config{Mode: firewalld.ModeZone, CallTimeout: 100 * time.Millisecond})
	fake.SetDelay("zone.getSources", time.Second)
	_, err := c.Add(context.Background(), ents(pfx("198.51.100.32/27")))
	if !firewalld.IsUnavailable(err) {
		t.Fatalf("Add against a stuck firewalld = %v, want unavailable (timeout)", err)
	}
}
