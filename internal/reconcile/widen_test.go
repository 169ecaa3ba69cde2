package reconcile

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/synguard/synguard/internal/blockstore"
	"github.com/synguard/synguard/internal/policy"
	"github.com/synguard/synguard/internal/prefix"
)

// TestWidenRotation: /64s rotating inside one /48 are blocked as the /48
// once four are active, in the same saved change as the fourth: the
// backend then holds the /48 (with the latest expiry) and the operator's
// /64 inside it, not the alert /64s, which are lifted and remembered; a
// later /64 inside the /48 is a duplicate and takes no cap. It survives a
// restart, and expires as one block.
func TestWidenRotation(t *testing.T) {
	fw := newFaulty()
	clk := newClock()
	path := filepath.Join(t.TempDir(), "state.json")
	mod := func(c *policy.Config) {
		c.MaxActive = 6
		c.Widening = policy.Widening{MinBlocks: 4, Length: c.Widening.Length}
	}
	h := start(t, path, fw, clk, mod)
	ctx := context.Background()
	op := netip.MustParsePrefix("2001:db8:5:ff::/64")
	if _, _, err := h.d.Block(ctx, op, 48*time.Hour, "operator"); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		h.send(alert(fmt.Sprintf("2001:db8:5:%x::/64", i+1), true))
		clk.Advance(time.Minute)
	}
	if got := h.held(); got != "[2001:db8:5:1::/64 2001:db8:5:2::/64 2001:db8:5:3::/64 2001:db8:5:ff::/64]" {
		t.Fatalf("before the fourth: firewall holds %v", got)
	}
	h.send(alert("2001:db8:5:4::/64", true))
	w := netip.MustParsePrefix("2001:db8:5::/48")
	if got := h.held(); got != "[2001:db8:5::/48 2001:db8:5:ff::/64]" {
		t.Fatalf("after the fourth: firewall holds %v, want the /48 and the operator's /64", got)
	}
	wb, ok := h.store.Get(w)
	last, _ := h.store.Get(netip.MustParsePrefix("2001:db8:5:4::/64"))
	if !ok || !wb.Active || wb.Source != blockstore.SourceWiden || !wb.Expiry.Equal(clk.Now().Add(time.Hour)) || wb.Offences != 1 {
		t.Fatalf("widened block: %+v", wb)
	}
	if exp, _ := fw.Expiry(w); !exp.Equal(wb.Expiry) {
		t.Fatalf("backend expiry %v, want %v", exp, wb.Expiry)
	}
	if last.Active || last.Installed || last.LiftReason != blockstore.LiftWidened || last.Offences != 1 {
		t.Fatalf("the block that triggered it: %+v (made and lifted in one change: never installed)", last)
	}
	for i := range 3 {
		b, _ := h.store.Get(netip.MustParsePrefix(fmt.Sprintf("2001:db8:5:%x::/64", i+1)))
		if b.Active || b.Installed || b.LiftReason != blockstore.LiftWidened {
			t.Fatalf("covered block %v: %+v", b.Prefix, b)
		}
	}
	if ob, _ := h.store.Get(op); !ob.Active || ob.Source != blockstore.SourceManual {
		t.Fatalf("the operator's block was touched: %+v", ob)
	}
	if h.metric("synguard_responder_actions_total", "action", "widen", "result", "ok") != 1 ||
		h.metric("synguard_responder_actions_total", "action", "widened", "result", "ok") != 4 ||
		h.metric("synguard_responder_blocks_active", "family", "ipv6") != 2 {
		t.Fatal("widen not counted, or blocks_active wrong")
	}

	// The next rotation inside the /48 changes nothing.
	dup := h.metric("synguard_responder_actions_total", "action", "block", "result", "duplicate")
	h.send(alert("2001:db8:5:77::/64", true))
	if _, ok := h.store.Get(netip.MustParsePrefix("2001:db8:5:77::/64")); ok ||
		h.metric("synguard_responder_actions_total", "action", "block", "result", "duplicate") != dup+1 {
		t.Fatal("a /64 inside the widened /48 was blocked again")
	}

	h.stop()
	h = start(t, path, fw, clk, mod)
	if got := h.held(); got != "[2001:db8:5::/48 2001:db8:5:ff::/64]" {
		t.Fatalf("after a restart: firewall holds %v", got)
	}
	clk.Advance(time.Hour)
	h.flush()
	if got := h.held(); got != "[2001:db8:5:ff::/64]" {
		t.Fatalf("after the widened block's expiry: firewall holds %v", got)
	}
}

// TestWidenFreesAFullCap: a cap full of /27s of one /24 refuses the next
// one, which widens them instead: the cap is free again for other
// ranges. A reload that turns widening on does the same for ranges
// already full.
func TestWidenFreesAFullCap(t *testing.T) {
	fw := newFaulty()
	h := start(t, filepath.Join(t.TempDir(), "state.json"), fw, newClock(), func(c *policy.Config) {
		c.MaxActive = 3
		c.Widening.MinBlocks = 3
	})
	refused := h.send(alert("198.51.100.0/27", true), alert("198.51.100.32/27", true), alert("203.0.113.128/27", true),
		alert("198.51.100.64/27", true))
	if len(refused) != 0 {
		t.Fatalf("refused %v", refused)
	}
	if got := h.held(); got != "[198.51.100.0/24 203.0.113.128/27]" {
		t.Fatalf("firewall holds %v, want the /24 in place of the /27s", got)
	}
	if refused := h.send(alert("192.0.2.128/27", true)); len(refused) != 0 {
		t.Fatalf("the cap is still full: %v", refused)
	}

	// Widening off: the cap fills; turning it on widens at the reload.
	fw2 := newFaulty()
	pol := policy.Default()
	pol.Host, pol.MaxActive = "mx1", 4
	h2 := start(t, filepath.Join(t.TempDir(), "state.json"), fw2, newClock(), func(c *policy.Config) { *c = pol })
	refused = h2.send(alert("2001:db8:7:1::/64", true), alert("2001:db8:7:2::/64", true),
		alert("2001:db8:7:3::/64", true), alert("2001:db8:7:4::/64", true), alert("2001:db8:8::/64", true))
	if refused[policy.ReasonCapReached] != 1 {
		t.Fatalf("refused %v, want the fifth over the cap", refused)
	}
	pol.Widening.MinBlocks = 4
	if err := h2.d.SetPolicy(pol); err != nil {
		t.Fatal(err)
	}
	h2.settle()
	// The waiting fifth alert is applied once the cap allows.
	h2.d.ApplyWaiting(h2.clk.Now())
	h2.flush()
	if got := fmt.Sprint(fw2.Owned()); got != "[2001:db8:7::/48 2001:db8:8::/64]" {
		t.Fatalf("after the reload: firewall holds %v", got)
	}
}

// TestWidenRefusedByPolicy: a wider prefix the allowlist overlaps is never
// blocked; the narrow blocks stay.
func TestWidenRefusedByPolicy(t *testing.T) {
	fw := newFaulty()
	h := start(t, filepath.Join(t.TempDir(), "state.json"), fw, newClock(), func(c *policy.Config) {
		c.Widening.MinBlocks = 2
		c.Allow = prefix.NewSet(netip.MustParsePrefix("198.51.100.250/32"))
	})
	h.send(alert("198.51.100.0/27", true), alert("198.51.100.32/27", true))
	if got := h.held(); got != "[198.51.100.0/27 198.51.100.32/27]" {
		t.Fatalf("firewall holds %v: the /24 overlaps the allowlist", got)
	}
}

// TestWidenSaveFailureChangesNothing: the widening and the block that
// triggers it are one saved change: when the save fails, neither happens
// and the narrow blocks stay in place.
func TestWidenSaveFailureChangesNothing(t *testing.T) {
	fw := newFaulty()
	dir := t.TempDir()
	h := start(t, filepath.Join(dir, "state", "state.json"), fw, newClock(), func(c *policy.Config) { c.Widening.MinBlocks = 3 })
	h.send(alert("2001:db8:5:1::/64", true), alert("2001:db8:5:2::/64", true))
	if err := os.RemoveAll(filepath.Join(dir, "state")); err != nil {
		t.Fatal(err)
	}
	if _, err := h.d.HandleAlerts(context.Background(), []policy.Alert{alert("2001:db8:5:3::/64", true)}); err == nil {
		t.Fatal("an unsaved widening reported as done")
	}
	h.flush()
	if got := h.held(); got != "[2001:db8:5:1::/64 2001:db8:5:2::/64]" {
		t.Fatalf("firewall holds %v after a failed save", got)
	}
	if _, ok := h.store.Get(netip.MustParsePrefix("2001:db8:5::/48")); ok {
		t.Fatal("the unsaved widened block is in the store")
	}
	for _, p := range []string{"2001:db8:5:1::/64", "2001:db8:5:2::/64"} {
		if b, _ := h.store.Get(netip.MustParsePrefix(p)); !b.Active {
			t.Fatalf("%s lifted by an unsaved widening: %+v", p, b)
		}
	}
	if h.metric("synguard_responder_actions_total", "action", "widen", "result", "ok") != 0 {
		t.Fatal("an unsaved widening counted")
	}
}

// TestWidenAtStart: a state whose ranges filled up while widening was off
// (or before it existed) is widened when the responder starts with it on.
func TestWidenAtStart(t *testing.T) {
	fw := newFaulty()
	clk := newClock()
	path := filepath.Join(t.TempDir(), "state.json")
	h := start(t, path, fw, clk, nil)
	h.send(alert("198.51.100.0/27", true), alert("198.51.100.32/27", true), alert("198.51.100.64/27", true),
		alert("203.0.113.128/27", true))
	h.stop()
	h = start(t, path, fw, clk, func(c *policy.Config) { c.Widening.MinBlocks = 3 })
	if got := h.held(); got != "[198.51.100.0/24 203.0.113.128/27]" {
		t.Fatalf("after a start with widening on: firewall holds %v", got)
	}
	if b, _ := h.store.Get(netip.MustParsePrefix("198.51.100.0/24")); b.Source != blockstore.SourceWiden || !b.Expiry.Equal(clk.Now().Add(time.Hour)) {
		t.Fatalf("widened at start: %+v", b)
	}
}
