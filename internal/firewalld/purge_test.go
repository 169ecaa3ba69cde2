package firewalld_test

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/synguard/synguard/internal/firewalld"
)

func TestPurge(t *testing.T) {
	t.Run("zone", func(t *testing.T) {
		fake, c := newFake(t, firewalld.Config{Mode: firewalld.ModeZone})
		owned := pfx("198.51.100.32/27", "198.51.100.64/27")
		add(t, c, owned)
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
		add(t, c, owned)
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
		// Prepare makes the sets again.
		if err := c.Prepare(ctx(t), nil); err != nil {
			t.Fatal(err)
		}
		add(t, c, owned)
	})
}
