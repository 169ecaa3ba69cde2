package reconcile

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/synguard/synguard/internal/blocks"
	"github.com/synguard/synguard/internal/blockstore"
	"github.com/synguard/synguard/internal/firewall"
	"github.com/synguard/synguard/internal/policy"
)

func TestBlockDuplicateAndRefusals(t *testing.T) {
	fw := newFaulty()
	h := start(t, filepath.Join(t.TempDir(), "state.json"), fw, newClock(), func(c *policy.Config) { c.MaxActive = 3 })
	refused := h.send(
		alert("198.51.100.33/27", true),
		alert("198.51.100.32/27", true), // same /27 in the same notification
		alert("2001:db8:5::/64", true),
		alert("10.0.0.0/8", true),
		alert("203.0.113.0/27", true), // holds the host's own address
		alert("127.0.0.0/24", true),
		alert("192.0.2.0/27", true, "host", "mx2"),
		alert("192.0.2.32/27", true, "host", "mx2", "scope", "fleet"),
		alert("192.0.2.64/27", true, "action", "page"),
		policy.Alert{Firing: true, Labels: map[string]string{"action": "block"}},
		alert("bogus", true),
		alert("198.51.100.96/27", true), // over the cap of 3
	)
	want := map[policy.Reason]int{policy.ReasonTooBroad: 1, policy.ReasonAllowlisted: 2, policy.ReasonOtherHost: 1,
		policy.ReasonUnmatched: 1, policy.ReasonNoPrefix: 1, policy.ReasonBadPrefix: 1, policy.ReasonCapReached: 1}
	if fmt.Sprint(refused) != fmt.Sprint(want) {
		t.Fatalf("refused %v, want %v", refused, want)
	}
	if got := h.held(); got != "[192.0.2.32/27 198.51.100.32/27 2001:db8:5::/64]" {
		t.Fatalf("firewall holds %v", got)
	}
	if h.metric("synguard_responder_blocks_active", "family", "ipv4") != 2 || h.metric("synguard_responder_blocks_active", "family", "ipv6") != 1 {
		t.Fatal("blocks_active wrong")
	}
	if h.metric("synguard_responder_actions_total", "action", "block", "result", "duplicate") != 1 {
		t.Fatal("in-payload duplicate not counted")
	}
	// An Alertmanager HA pair delivers the same notification twice.
	calls := fw.Calls("add") + fw.Calls("sync")
	h.send(alert("198.51.100.32/27", true), alert("2001:db8:5::/64", true))
	if h.metric("synguard_responder_actions_total", "action", "block", "result", "duplicate") != 3 {
		t.Fatal("duplicates not counted")
	}
	if n := fw.Calls("add") + fw.Calls("sync"); n != calls {
		t.Fatalf("duplicates made %d firewall calls", n-calls)
	}
	if h.metric("synguard_responder_refused_total", "reason", "allowlisted") != 2 {
		t.Fatal("refusal metric wrong")
	}
	if h.metric("synguard_responder_backend_up", "backend", "memory") != 1 {
		t.Fatal("backend_up not 1")
	}
}

func TestRateLimitPauseDryRun(t *testing.T) {
	fw := newFaulty()
	h := start(t, filepath.Join(t.TempDir(), "state.json"), fw, newClock(), func(c *policy.Config) { c.RatePerMinute, c.Burst = 1, 2 })
	refused := h.send(alert("198.51.100.0/27", true), alert("198.51.100.32/27", true), alert("198.51.100.64/27", true))
	if refused[policy.ReasonRateLimited] != 1 || len(fw.Owned()) != 2 {
		t.Fatalf("rate limit: refused %v, firewall %v", refused, h.held())
	}
	h.clk.Advance(time.Minute)
	if refused := h.send(alert("198.51.100.64/27", true)); len(refused) != 0 {
		t.Fatalf("refilled token refused: %v", refused)
	}

	if err := h.d.SetPaused(true); err != nil {
		t.Fatal(err)
	}
	h.clk.Advance(time.Hour)
	refused = h.send(alert("198.51.100.96/27", true))
	if _, ok := h.store.Get(netip.MustParsePrefix("198.51.100.96/27")); refused[policy.ReasonPaused] != 1 || ok {
		t.Fatalf("paused: %v %v", refused, h.held())
	}
	if h.metric("synguard_responder_paused") != 1 {
		t.Fatal("paused gauge")
	}
	if err := h.d.SetPaused(false); err != nil {
		t.Fatal(err)
	}

	pol := policy.Default()
	pol.DryRun = true
	if err := h.d.SetPolicy(pol); err != nil {
		t.Fatal(err)
	}
	before := h.held()
	h.send(alert("198.51.100.128/27", true))
	if h.held() != before || h.metric("synguard_responder_actions_total", "action", "block", "result", "dry_run") != 1 {
		t.Fatalf("dry run changed the firewall: %v -> %v", before, h.held())
	}
	if _, ok := h.store.Get(netip.MustParsePrefix("198.51.100.128/27")); ok {
		t.Fatal("dry run stored a block")
	}
}

func TestExpiryEscalationAndRestart(t *testing.T) {
	fw := newFaulty()
	clk := newClock()
	path := filepath.Join(t.TempDir(), "state.json")
	h := start(t, path, fw, clk, nil)
	p := netip.MustParsePrefix("198.51.100.32/27")
	h.send(alert(p.String(), true))
	b, _ := h.store.Get(p)
	if b.Offences != 1 || b.Expiry.Sub(b.Since) != time.Hour {
		t.Fatalf("first block: %+v", b)
	}
	if exp, ok := fw.Expiry(p); !ok || !exp.Equal(b.Expiry) {
		t.Fatalf("the backend's entry carries expiry %v (held %v), want the block's %v", exp, ok, b.Expiry)
	}
	clk.Advance(time.Hour)
	h.flush()
	if len(fw.Owned()) != 0 {
		t.Fatalf("expired block still in firewall: %v", h.held())
	}
	b, _ = h.store.Get(p)
	if b.Active || b.Installed || b.LiftReason != blockstore.LiftExpired {
		t.Fatalf("expired record: %+v", b)
	}
	// It floods again: four times longer.
	clk.Advance(time.Minute)
	h.send(alert(p.String(), true))
	b, _ = h.store.Get(p)
	if b.Offences != 2 || b.Expiry.Sub(b.Since) != 4*time.Hour {
		t.Fatalf("second block: %+v", b)
	}
	h.stop()

	// The responder is down while the block expires, and the firewall
	// reloads meanwhile (runtime entries lost).
	fw.Reload()
	q := netip.MustParsePrefix("2001:db8:7::/64")
	st, err := blockstore.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	st.Put(blockstore.Block{Prefix: q, Source: blockstore.SourceManual, Since: clk.Now(), Expiry: clk.Now().Add(48 * time.Hour), Offences: 1, Active: true, Installed: true, Applied: true})
	if b, m := st.Backend(); b != "memory" || m != "" {
		t.Fatalf("the state file records backend %q mode %q, want the memory backend", b, m)
	}
	if err := st.Save(); err != nil {
		t.Fatal(err)
	}
	st.Close()
	clk.Advance(5 * time.Hour)
	prepares := fw.Calls("prepare")
	h2 := start(t, path, fw, clk, nil)
	if got := h2.held(); got != "[2001:db8:7::/64]" {
		t.Fatalf("after restart firewall holds %v, want only the unexpired block", got)
	}
	b, _ = h2.store.Get(p)
	if b.Active || b.Installed {
		t.Fatalf("block that expired while down still active: %+v", b)
	}
	if h2.metric("synguard_responder_actions_total", "action", "expire", "result", "ok") != 1 {
		t.Fatal("expiry while down not counted")
	}
	if r := h2.metric("synguard_responder_reconcile_repairs_total"); r < 1 {
		t.Fatalf("restore of the lost entry is a repair: %v", r)
	}
	if r := h2.metric("synguard_responder_reconcile_reload_repairs_total"); r != 0 {
		t.Fatalf("no reload was reported, yet %v repairs were put down to one", r)
	}
	if fw.Calls("prepare") != prepares+1 {
		t.Fatalf("Prepare ran %d times at start, want 1", fw.Calls("prepare")-prepares)
	}
}

func TestBackendEvents(t *testing.T) {
	fw := newFaulty()
	h := start(t, filepath.Join(t.TempDir(), "state.json"), fw, newClock(), nil)
	h.send(alert("198.51.100.32/27", true), alert("198.51.100.64/27", true))

	// --reload drops runtime entries; Watch tells the driver.
	fw.Reload()
	waitFor(t, "the reload repaired", func() bool {
		h.flush()
		return len(fw.Owned()) == 2 && h.metric("synguard_responder_reconcile_repairs_total") == 2 &&
			h.metric("synguard_responder_reconcile_reload_repairs_total") == 2 // explained by the reload: not drift
	})

	// The firewall goes away: calls fail, desired kept, retried with backoff.
	fw.SetDown(errDown)
	waitFor(t, "backend_up 0 after the stop", func() bool { return h.metric("synguard_responder_backend_up") == 0 })
	res, err := h.d.HandleAlerts(context.Background(), []policy.Alert{alert("198.51.100.96/27", true)})
	if err != nil || res.Blocked != 1 {
		t.Fatalf("block while the backend is down: %+v %v", res, err)
	}
	h.flush()
	if h.metric("synguard_responder_backend_errors_total", "op", "add") < 1 {
		t.Fatal("failed add not counted")
	}
	if !h.d.Status().Pending[netip.MustParsePrefix("198.51.100.96/27")] {
		t.Fatal("a block the backend has not confirmed is not pending in the status")
	}
	fw.Restart()
	waitFor(t, "all three restored after the restart", func() bool {
		h.flush()
		return len(fw.Owned()) == 3 && h.metric("synguard_responder_backend_up") == 1
	})
}

// TestLiftDuringSync: a lift that lands while a full reconcile runs is
// never lost, even when the next step is a full reconcile too (a periodic
// one, a retry, a reload): the range is removed from the firewall and the
// record stops being owned only then.
func TestLiftDuringSync(t *testing.T) {
	fw := newFaulty()
	h := start(t, filepath.Join(t.TempDir(), "state.json"), fw, newClock(), nil)
	p := netip.MustParsePrefix("198.51.100.32/27")
	h.send(alert(p.String(), true))
	landed := make(chan error, 1)
	hooked := make(chan struct{})
	fw.setDuring(func(op string) {
		if op != "sync" {
			return
		}
		fw.setDuring(nil)
		go func() {
			_, err := h.d.Unblock(context.Background(), p)
			landed <- err
		}()
		// The lift is saved while this Sync (with p still desired) runs,
		if err := <-landed; err != nil {
			t.Errorf("unblock during sync: %v", err)
		}
		// and the next step is a full reconcile again.
		h.d.Notify(firewall.Event{Kind: firewall.Reloaded, Detail: "test"})
		close(hooked)
	})
	fw.Reload() // a Sync, during which the lift lands
	<-hooked
	waitFor(t, "the lifted range left the firewall", func() bool { h.flush(); return len(fw.Owned()) == 0 })
	b, _ := h.store.Get(p)
	if b.Active || b.Installed {
		t.Fatalf("record after the lift: %+v", b)
	}
	if _, err := h.d.Unblock(context.Background(), p); !errors.Is(err, blocks.ErrNotBlocked) {
		t.Fatalf("second unblock: %v", err)
	}
}

// TestPreexistingNeverRemoved: an entry the firewall held before synguard
// (an operator's own drop source) is never owned, so a block of it ending
// leaves it in place.
func TestPreexistingNeverRemoved(t *testing.T) {
	fw := newFaulty()
	p := netip.MustParsePrefix("198.51.100.32/27")
	fw.Preexisting(p)
	clk := newClock()
	h := start(t, filepath.Join(t.TempDir(), "state.json"), fw, clk, nil)
	h.send(alert(p.String(), true), alert("198.51.100.64/27", true))
	b, _ := h.store.Get(p)
	if !b.Preexisting || b.Owned() {
		t.Fatalf("record of a preexisting entry: %+v", b)
	}
	clk.Advance(2 * time.Hour)
	h.flush()
	list, err := fw.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(list) != "[198.51.100.32/27]" || len(fw.Owned()) != 0 {
		t.Fatalf("after expiry the firewall holds %v (synguard's %v), want only the operator's entry", list, fw.Owned())
	}
}

// TestRefusedPrefixAppliesTheRest: the backend refusing one prefix (a
// ZONE_CONFLICT) fails neither the others nor the backend's health.
func TestRefusedPrefixAppliesTheRest(t *testing.T) {
	fw := newFaulty()
	bad := netip.MustParsePrefix("198.51.100.64/27")
	fw.Refuse(bad, errors.New("ZONE_CONFLICT: 198.51.100.64/27"))
	h := start(t, filepath.Join(t.TempDir(), "state.json"), fw, newClock(), nil)
	h.send(alert("198.51.100.32/27", true), alert(bad.String(), true), alert("198.51.100.96/27", true))
	if got := h.held(); got != "[198.51.100.32/27 198.51.100.96/27]" {
		t.Fatalf("firewall holds %v", got)
	}
	if h.metric("synguard_responder_backend_up") != 1 || h.metric("synguard_responder_backend_refused_total", "op", "add") != 1 {
		t.Fatal("a refused prefix must be counted and must not mark the backend down")
	}
	if !h.d.Status().Pending[bad] {
		t.Fatal("the refused block is not pending")
	}
	fw.Refuse(bad, nil)
	fw.Reload()
	waitFor(t, "the refused prefix applied by the next reconcile", func() bool { h.flush(); return len(fw.Owned()) == 3 })
}

func TestManualAndResolve(t *testing.T) {
	fw := newFaulty()
	clk := newClock()
	h := start(t, filepath.Join(t.TempDir(), "state.json"), fw, clk, func(c *policy.Config) { c.LiftOnResolve = true; c.MinHold = 30 * time.Minute })
	ctx := context.Background()
	p := netip.MustParsePrefix("198.51.100.32/27")
	if _, _, err := h.d.Block(ctx, netip.MustParsePrefix("192.168.0.0/16"), 0, "x"); err == nil {
		t.Fatal("manual /16 accepted")
	}
	var re *blocks.ErrRefused
	if _, _, err := h.d.Block(ctx, netip.MustParsePrefix("127.0.0.1/32"), 0, "x"); !errors.As(err, &re) || re.Reason != policy.ReasonAllowlisted {
		t.Fatalf("manual block of loopback: %v", err)
	}
	b, isNew, err := h.d.Block(ctx, p, 2*time.Hour, "seen in netstat")
	if err != nil || !isNew || b.Source != blockstore.SourceManual || b.Expiry.Sub(b.Since) != 2*time.Hour {
		t.Fatalf("manual block: %+v %v %v", b, isNew, err)
	}
	h.flush()
	if _, isNew, _ := h.d.Block(ctx, p, time.Hour, ""); isNew {
		t.Fatal("second manual block is new")
	}
	// Extended: the backend's entry carries the new expiry.
	nb, _, err := h.d.Block(ctx, p, 5*time.Hour, "")
	h.flush()
	if exp, _ := fw.Expiry(p); err != nil || !exp.Equal(nb.Expiry) || !nb.Expiry.Equal(clk.Now().Add(5*time.Hour)) {
		t.Fatalf("extended block: %+v %v, backend expiry %v", nb, err, exp)
	}
	// A resolved alert never lifts a manual block.
	h.send(alert(p.String(), false))
	if len(fw.Owned()) != 1 {
		t.Fatal("resolve lifted a manual block")
	}
	if _, err := h.d.Unblock(ctx, p); err != nil {
		t.Fatal(err)
	}
	h.flush()
	if len(fw.Owned()) != 0 {
		t.Fatal("unblock left the firewall entry")
	}
	if _, err := h.d.Unblock(ctx, p); !errors.Is(err, blocks.ErrNotBlocked) {
		t.Fatalf("second unblock: %v", err)
	}
	rec, _ := h.store.Get(p)
	if rec.Installed || rec.Offences != 1 || rec.LiftReason != blockstore.LiftManual {
		t.Fatalf("record after unblock: %+v", rec)
	}

	// Alert block, resolved within the hold: lifted at since+hold.
	q := netip.MustParsePrefix("198.51.100.64/27")
	h.send(alert(q.String(), true))
	clk.Advance(10 * time.Minute)
	h.send(alert(q.String(), false))
	if len(fw.Owned()) != 1 {
		t.Fatal("resolve lifted before the minimum hold")
	}
	clk.Advance(20 * time.Minute)
	h.flush()
	if len(fw.Owned()) != 0 {
		t.Fatalf("resolve did not lift after the hold: %v", h.held())
	}
}

func TestSaveFailureChangesNothing(t *testing.T) {
	fw := newFaulty()
	dir := t.TempDir()
	h := start(t, filepath.Join(dir, "state", "state.json"), fw, newClock(), nil)
	if err := os.RemoveAll(filepath.Join(dir, "state")); err != nil {
		t.Fatal(err)
	}
	_, err := h.d.HandleAlerts(context.Background(), []policy.Alert{alert("198.51.100.32/27", true)})
	if err == nil {
		t.Fatal("unsaved block reported as done")
	}
	h.flush()
	if len(fw.Owned()) != 0 || len(h.d.Status().Blocks) != 0 {
		t.Fatal("unsaved block applied")
	}
	if h.metric("synguard_responder_actions_total", "action", "block", "result", "failed") != 1 {
		t.Fatal("failed action not counted")
	}
}

func TestFailedCallRetried(t *testing.T) {
	fw := newFaulty()
	h := start(t, filepath.Join(t.TempDir(), "state.json"), fw, newClock(), nil)
	fw.failNext("add", errors.New("INVALID_IPSET: synguard4"))
	h.send(alert("198.51.100.32/27", true))
	h.settle()
	if got := fw.Owned(); len(got) != 1 {
		t.Fatalf("failed add not retried: %v", got)
	}
	if h.metric("synguard_responder_backend_errors_total", "op", "add") != 1 {
		t.Fatal("the failed add is not counted")
	}
}

// TestUnconfirmedMissing: blocks saved but never confirmed (the responder
// died between saving and applying) are applied at start, and confirmed.
func TestUnconfirmedMissing(t *testing.T) {
	fw := newFaulty()
	clk := newClock()
	path := filepath.Join(t.TempDir(), "state.json")
	st, err := blockstore.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	p := netip.MustParsePrefix("198.51.100.32/27")
	st.Put(blockstore.Block{Prefix: p, Source: blockstore.SourceAlert, Since: clk.Now(), Expiry: clk.Now().Add(time.Hour), Offences: 1, Active: true, Installed: true})
	st.SetBackend(fw.Describe().Backend, fw.Describe().Mode)
	if err := st.Save(); err != nil {
		t.Fatal(err)
	}
	st.Close()
	h := start(t, path, fw, clk, nil)
	if h.held() != "[198.51.100.32/27]" {
		t.Fatalf("firewall %v", h.held())
	}
	if b, _ := h.store.Get(p); !b.Applied {
		t.Fatal("applied block not marked confirmed")
	}
}

// TestPurge lifts every owned block through the backend and leaves the
// operator's own entries.
func TestPurge(t *testing.T) {
	fw := newFaulty()
	own := netip.MustParsePrefix("198.51.100.128/27")
	fw.Preexisting(own)
	h := start(t, filepath.Join(t.TempDir(), "state.json"), fw, newClock(), nil)
	h.send(alert("198.51.100.32/27", true), alert("2001:db8:5::/64", true), alert(own.String(), true))
	h.stop()
	n, err := h.d.Purge(context.Background(), fw)
	if err != nil || n != 2 {
		t.Fatalf("purge: %d %v, want 2 owned blocks lifted", n, err)
	}
	list, _ := fw.List(context.Background())
	if fmt.Sprint(list) != "[198.51.100.128/27]" {
		t.Fatalf("after purge the firewall holds %v, want only the operator's own entry", list)
	}
	for _, b := range h.d.Blocks() {
		if b.Owned() || (b.Active && !b.Preexisting) {
			t.Fatalf("record after purge: %+v", b)
		}
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// TestExpirySaveFailureBacksOff: with the state file unwritable (a full or
// read-only disk), a due expiry is retried with backoff rather than in a
// spin of failed writes, the firewall keeps blocking meanwhile, and the
// block is lifted once the state can be written again.
func TestExpirySaveFailureBacksOff(t *testing.T) {
	fw := newFaulty()
	clk := newClock()
	dir := t.TempDir()
	h := start(t, filepath.Join(dir, "state", "state.json"), fw, clk, nil)
	h.send(alert("198.51.100.32/27", true))
	if err := os.RemoveAll(filepath.Join(dir, "state")); err != nil {
		t.Fatal(err)
	}
	clk.Advance(2 * time.Hour)
	h.flush()
	time.Sleep(300 * time.Millisecond)
	h.flush()
	if n := h.metric("synguard_responder_state_save_errors_total"); n < 1 || n > 3 {
		t.Fatalf("%v failed saves of the expiry in 300 ms, want 1-3 (a retry with backoff, not a spin)", n)
	}
	if len(fw.Owned()) != 1 {
		t.Fatal("a block whose expiry could not be saved must stay in the firewall")
	}
	if err := os.MkdirAll(filepath.Join(dir, "state"), 0o700); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Minute)
	waitFor(t, "the expiry lifted once the state is writable", func() bool { h.flush(); return len(fw.Owned()) == 0 })
}

// TestRateLimitedAlertsWait: a firing alert refused for the rate limit is
// applied as soon as the limit allows, not at Alertmanager's next repeat an
// hour later; one that resolves meanwhile is forgotten.
func TestRateLimitedAlertsWait(t *testing.T) {
	fw := newFaulty()
	clk := newClock()
	h := start(t, filepath.Join(t.TempDir(), "state.json"), fw, clk, func(c *policy.Config) { c.RatePerMinute, c.Burst = 60, 1 })
	refused := h.send(alert("198.51.100.0/27", true), alert("198.51.100.32/27", true), alert("198.51.100.64/27", true), alert("198.51.100.96/27", true))
	if refused[policy.ReasonRateLimited] != 3 || len(fw.Owned()) != 1 {
		t.Fatalf("burst of 1: refused %v, firewall %v", refused, h.held())
	}
	if w := h.d.Status().Waiting; len(w) != 3 || w[0].Reason != policy.ReasonRateLimited {
		t.Fatalf("waiting: %+v", w)
	}
	if h.metric("synguard_responder_alerts_waiting") != 3 {
		t.Fatal("alerts_waiting gauge")
	}
	// One resolves while it waits: never blocked.
	h.send(alert("198.51.100.96/27", false))
	clk.Advance(time.Second) // one token
	waitFor(t, "the first waiting alert applied a second later", func() bool { h.flush(); return len(fw.Owned()) == 2 })
	clk.Advance(time.Second)
	waitFor(t, "the second one a second after", func() bool { h.flush(); return len(fw.Owned()) == 3 })
	clk.Advance(time.Minute)
	h.flush()
	if got := h.held(); got != "[198.51.100.0/27 198.51.100.32/27 198.51.100.64/27]" {
		t.Fatalf("firewall holds %v; the resolved alert must not be blocked", got)
	}
	if w := h.d.Status().Waiting; len(w) != 0 || h.metric("synguard_responder_alerts_waiting") != 0 {
		t.Fatalf("still waiting: %+v", w)
	}
}
