package blocks

import (
	"context"
	"net/netip"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/synguard/synguard/internal/firewall"
)

// TestHeldLeavesPreexistingOut: a block the firewall reported Preexisting
// (an operator's own drop source) is never handed to Prepare as held, so a
// restarted responder never takes the operator's entry for its own (found
// by the fault campaign, test/soak: zone mode removed the operator's source
// at the block's expiry after a responder crash).
func TestHeldLeavesPreexistingOut(t *testing.T) {
	l, _, err := open(t, filepath.Join(t.TempDir(), "state.json"), firewall.Description{Backend: "firewalld", Mode: "zone"})
	if err != nil {
		t.Fatal(err)
	}
	ops := netip.MustParsePrefix("203.0.113.64/27")
	mine := netip.MustParsePrefix("198.51.100.32/27")
	for _, p := range []netip.Prefix{ops, mine} {
		if _, _, err := l.Block(context.Background(), p, time.Hour, "test"); err != nil {
			t.Fatal(err)
		}
	}
	l.Take()
	l.Confirm([]firewall.Result{{Prefix: ops, Outcome: firewall.Preexisting}, {Prefix: mine, Outcome: firewall.Applied}})
	if got := l.Held(); !slices.Equal(got, []netip.Prefix{mine}) {
		t.Fatalf("Held() = %v, want only the responder's own %v", got, mine)
	}
}

// TestSyncOwnsOnlyWhatMayBeMine: a new block no backend call was asked to
// make yet is not owned in a Sync (found by the fault campaign: a block
// whose first call was the Sync after a firewalld reload or restart took
// the operator's own drop source of the same prefix for the responder's,
// and removed it when the block ended). Once a call failed (Requeue), it
// may have made the entry, and is owned again, as the contract asks.
func TestSyncOwnsOnlyWhatMayBeMine(t *testing.T) {
	l, _, err := open(t, filepath.Join(t.TempDir(), "state.json"), firewall.Description{Backend: "firewalld", Mode: "zone"})
	if err != nil {
		t.Fatal(err)
	}
	p := netip.MustParsePrefix("203.0.113.64/27")
	q := netip.MustParsePrefix("198.51.100.32/27")
	owned := func() []netip.Prefix { _, o := l.Desired(); return o }
	if _, _, err := l.Block(context.Background(), p, time.Hour, "test"); err != nil {
		t.Fatal(err)
	}
	w := l.Take()
	if got := owned(); slices.Contains(got, p) {
		t.Fatalf("a block no call was asked to make is owned: %v", got)
	}
	l.Requeue(w)
	if got := owned(); !slices.Contains(got, p) {
		t.Fatalf("after a failed call the block is not owned: %v", got)
	}
	if _, _, err := l.Block(context.Background(), q, time.Hour, "test"); err != nil {
		t.Fatal(err)
	}
	l.Take()
	l.Confirm([]firewall.Result{{Prefix: q, Outcome: firewall.Applied}})
	if got := owned(); !slices.Contains(got, q) {
		t.Fatalf("a block the firewall applied is not owned: %v", got)
	}
	// Extended while it is the responder's entry: still owned at once.
	if _, _, err := l.Block(context.Background(), q, 2*time.Hour, "test"); err != nil {
		t.Fatal(err)
	}
	if got := owned(); !slices.Contains(got, q) {
		t.Fatalf("an extended block of the responder's is not owned: %v", got)
	}
}
