package firewalld_test

import (
	"testing"

	"github.com/synguard/synguard/internal/firewall"
	"github.com/synguard/synguard/internal/firewalld"
)

// TestRestartedZoneHoldsNothingOfOurs: right after firewalld started again
// (without permanent entries) its drop zone holds only the permanent
// config's sources, the operator's. A Sync that lists such a prefix as
// owned (a block whose Add failed while firewalld was down) must report it
// Preexisting, never take it: it was removed when the block ended (found
// by the fault campaign, test/soak).
func TestRestartedZoneHoldsNothingOfOurs(t *testing.T) {
	fake, c := newFake(t, firewalld.Config{Mode: firewalld.ModeZone, AllowReload: true})
	p := pfx("203.0.113.64/27")
	mine := pfx("198.51.100.32/27")
	add(t, c, mine)
	// The operator's own source, runtime and permanent, as
	// `firewall-cmd --zone=drop --add-source` with and without --permanent.
	fake.AddPermanentSource("drop", p[0].String())
	fake.AddRuntimeSource("drop", p[0].String())
	fake.Crash()
	fake.Start()
	sr := syncOK(t, c, append(p, mine...), append(p, mine...))
	if o := outcome(sr.Results, p[0]); o != firewall.Preexisting {
		t.Fatalf("the operator's source after a restart is %v, want preexisting", o)
	}
	if o := outcome(sr.Results, mine[0]); o != firewall.Applied {
		t.Fatalf("the responder's own block after a restart is %v, want applied", o)
	}
	// From now on the zone's own entries are synguard's again.
	if o := outcome(syncOK(t, c, mine, mine).Results, mine[0]); o != firewall.Applied {
		t.Fatalf("the responder's own block on the next Sync is %v, want applied", o)
	}
	remove(t, c, mine)
	if !fake.Blocked(p[0].Addr()) {
		t.Fatal("the operator's source went with the responder's block")
	}
}
