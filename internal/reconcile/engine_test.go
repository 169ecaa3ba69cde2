package reconcile

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/synguard/synguard/internal/blockstore"
	"github.com/synguard/synguard/internal/policy"
)

// memFirewall is an in-memory firewalld with function fields to inject
// failures.
type memFirewall struct {
	mu       sync.Mutex
	entries  map[netip.Prefix]bool
	down     bool
	calls    []string
	restarts int
	newOwner bool // firewalld restarted and not yet prepared
	AddFn    func([]netip.Prefix) error
}

var errDown = errors.New("org.freedesktop.DBus.Error.ServiceUnknown: firewalld is not there")

func newMem() *memFirewall { return &memFirewall{entries: map[netip.Prefix]bool{}} }

func (f *memFirewall) callLog() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

func (f *memFirewall) op(name string) error {
	f.calls = append(f.calls, name)
	if f.down {
		return errDown
	}
	return nil
}

func (f *memFirewall) Setup(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.op("setup")
}

func (f *memFirewall) Add(_ context.Context, ps []netip.Prefix) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.op("add"); err != nil {
		return err
	}
	if f.AddFn != nil {
		if err := f.AddFn(ps); err != nil {
			return err
		}
	}
	for _, p := range ps {
		f.entries[p] = true
	}
	return nil
}

func (f *memFirewall) Remove(_ context.Context, ps []netip.Prefix) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.op("remove"); err != nil {
		return err
	}
	for _, p := range ps {
		delete(f.entries, p)
	}
	return nil
}

func (f *memFirewall) Sync(_ context.Context, desired, owned []netip.Prefix) (int, int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.op("sync"); err != nil {
		return 0, 0, err
	}
	want := map[netip.Prefix]bool{}
	added, removed := 0, 0
	for _, p := range desired {
		want[p] = true
		if !f.entries[p] {
			f.entries[p] = true
			added++
		}
	}
	for _, p := range owned {
		if !want[p] && f.entries[p] {
			delete(f.entries, p)
			removed++
		}
	}
	return added, removed, nil
}

// Restarted is true once after markRestarted, as a firewalld with a new
// bus owner would be until AfterRestart prepared it.
func (f *memFirewall) Restarted(context.Context) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.newOwner, nil
}

func (f *memFirewall) AfterRestart(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.restarts++
	if err := f.op("restart"); err != nil {
		return err
	}
	f.newOwner = false
	return nil
}

func (f *memFirewall) List(context.Context) ([]netip.Prefix, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.op("list"); err != nil {
		return nil, err
	}
	var out []netip.Prefix
	for p := range f.entries {
		out = append(out, p)
	}
	return out, nil
}

func (f *memFirewall) list() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for p := range f.entries {
		out = append(out, p.String())
	}
	slices.Sort(out)
	return out
}

func (f *memFirewall) set(fn func(f *memFirewall)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type harness struct {
	t      *testing.T
	e      *Engine
	fw     *memFirewall
	clk    *clock
	reg    *prometheus.Registry
	path   string
	store  *blockstore.Store
	cancel context.CancelFunc
	done   chan struct{}
}

func start(t *testing.T, path string, fw *memFirewall, clk *clock, mod func(*policy.Config)) *harness {
	t.Helper()
	st, err := blockstore.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	pol := policy.Default()
	pol.Host = "mx1"
	if mod != nil {
		mod(&pol)
	}
	reg := prometheus.NewRegistry()
	e, err := New(Options{
		Store: st, Firewall: fw, Policy: pol, Registerer: reg, Now: clk.Now,
		MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond,
		OwnAddrs: func() ([]netip.Addr, error) { return []netip.Addr{netip.MustParseAddr("203.0.113.10")}, nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &harness{t: t, e: e, fw: fw, clk: clk, reg: reg, path: path, store: st, cancel: cancel, done: make(chan struct{})}
	go func() { e.Run(ctx); close(h.done) }()
	t.Cleanup(h.stop)
	h.flush()
	return h
}

func (h *harness) stop() {
	h.cancel()
	<-h.done
	h.store.Close()
}

func (h *harness) flush() {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h.e.Flush(ctx); err != nil && errors.Is(err, context.DeadlineExceeded) {
		h.t.Fatal("flush timed out")
	}
}

func alert(p string, firing bool, extra ...string) policy.Alert {
	l := map[string]string{"alertname": "SynFloodPrefix", "action": "block", "prefix": p}
	for i := 0; i+1 < len(extra); i += 2 {
		l[extra[i]] = extra[i+1]
	}
	return policy.Alert{Firing: firing, Labels: l, Summary: "SYN flood from " + p}
}

func (h *harness) send(as ...policy.Alert) map[policy.Reason]int {
	h.t.Helper()
	res, err := h.e.HandleAlerts(context.Background(), as)
	if err != nil {
		h.t.Fatal(err)
	}
	h.flush()
	return res.Refused
}

func (h *harness) metric(name string, labels ...string) float64 {
	h.t.Helper()
	mfs, err := h.reg.Gather()
	if err != nil {
		h.t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, lp := range m.GetLabel() {
					if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
						found = true
					}
				}
				if !found {
					continue next
				}
			}
			return value(m)
		}
	}
	h.t.Fatalf("metric %s%v not found", name, labels)
	return 0
}

func value(m *dto.Metric) float64 {
	if m.Counter != nil {
		return m.GetCounter().GetValue()
	}
	return m.GetGauge().GetValue()
}

func newClock() *clock { return &clock{t: time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)} }

func TestBlockDuplicateAndRefusals(t *testing.T) {
	fw := newMem()
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
	if got := fw.list(); fmt.Sprint(got) != "[192.0.2.32/27 198.51.100.32/27 2001:db8:5::/64]" {
		t.Fatalf("firewall holds %v", got)
	}
	if h.metric("synguard_responder_blocks_active", "family", "ipv4") != 2 || h.metric("synguard_responder_blocks_active", "family", "ipv6") != 1 {
		t.Fatal("blocks_active wrong")
	}
	if h.metric("synguard_responder_actions_total", "action", "block", "result", "duplicate") != 1 {
		t.Fatal("in-payload duplicate not counted")
	}
	// An Alertmanager HA pair delivers the same notification twice.
	calls := len(fw.calls)
	h.send(alert("198.51.100.32/27", true), alert("2001:db8:5::/64", true))
	if h.metric("synguard_responder_actions_total", "action", "block", "result", "duplicate") != 3 {
		t.Fatal("duplicates not counted")
	}
	if len(fw.calls) != calls {
		t.Fatalf("duplicates made firewall calls: %v", fw.calls[calls:])
	}
	if h.metric("synguard_responder_refused_total", "reason", "allowlisted") != 2 {
		t.Fatal("refusal metric wrong")
	}
	if h.metric("synguard_responder_firewalld_up") != 1 {
		t.Fatal("firewalld_up not 1")
	}
}

func TestRateLimitPauseDryRun(t *testing.T) {
	fw := newMem()
	h := start(t, filepath.Join(t.TempDir(), "state.json"), fw, newClock(), func(c *policy.Config) { c.RatePerMinute, c.Burst = 1, 2 })
	refused := h.send(alert("198.51.100.0/27", true), alert("198.51.100.32/27", true), alert("198.51.100.64/27", true))
	if refused[policy.ReasonRateLimited] != 1 || len(fw.list()) != 2 {
		t.Fatalf("rate limit: refused %v, firewall %v", refused, fw.list())
	}
	h.clk.Advance(time.Minute)
	if refused := h.send(alert("198.51.100.64/27", true)); len(refused) != 0 {
		t.Fatalf("refilled token refused: %v", refused)
	}

	if err := h.e.SetPaused(true); err != nil {
		t.Fatal(err)
	}
	h.clk.Advance(time.Hour)
	refused = h.send(alert("198.51.100.96/27", true))
	if refused[policy.ReasonPaused] != 1 || len(fw.list()) != 0 && slices.Contains(fw.list(), "198.51.100.96/27") {
		t.Fatalf("paused: %v %v", refused, fw.list())
	}
	if h.metric("synguard_responder_paused") != 1 {
		t.Fatal("paused gauge")
	}
	h.e.SetPaused(false)

	pol := policy.Default()
	pol.DryRun = true
	if err := h.e.SetPolicy(pol); err != nil {
		t.Fatal(err)
	}
	before := fw.list()
	h.send(alert("198.51.100.128/27", true))
	if fmt.Sprint(fw.list()) != fmt.Sprint(before) || h.metric("synguard_responder_actions_total", "action", "block", "result", "dry_run") != 1 {
		t.Fatalf("dry run changed the firewall: %v -> %v", before, fw.list())
	}
	if _, ok := h.store.Get(netip.MustParsePrefix("198.51.100.128/27")); ok {
		t.Fatal("dry run stored a block")
	}
}

func TestExpiryEscalationAndRestart(t *testing.T) {
	fw := newMem()
	clk := newClock()
	path := filepath.Join(t.TempDir(), "state.json")
	h := start(t, path, fw, clk, nil)
	p := netip.MustParsePrefix("198.51.100.32/27")
	h.send(alert(p.String(), true))
	b, _ := h.store.Get(p)
	if b.Offences != 1 || b.Expiry.Sub(b.Since) != time.Hour {
		t.Fatalf("first block: %+v", b)
	}
	clk.Advance(time.Hour)
	h.flush()
	if len(fw.list()) != 0 {
		t.Fatalf("expired block still in firewall: %v", fw.list())
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

	// The responder is down while the block expires, and firewalld
	// restarts meanwhile (runtime entries lost).
	fw.set(func(f *memFirewall) { f.entries = map[netip.Prefix]bool{} })
	q := netip.MustParsePrefix("2001:db8:7::/64")
	st, _ := blockstore.Open(path)
	st.Put(blockstore.Block{Prefix: q, Source: blockstore.SourceManual, Since: clk.Now(), Expiry: clk.Now().Add(48 * time.Hour), Offences: 1, Active: true, Installed: true, Applied: true})
	st.Save()
	st.Close()
	clk.Advance(5 * time.Hour)
	h2 := start(t, path, fw, clk, nil)
	if got := fw.list(); fmt.Sprint(got) != "[2001:db8:7::/64]" {
		t.Fatalf("after restart firewall holds %v, want only the unexpired block", got)
	}
	b, _ = h2.store.Get(p)
	if b.Active || b.Installed {
		t.Fatalf("block that expired while down still active: %+v", b)
	}
	if h2.metric("synguard_responder_actions_total", "action", "expire", "result", "ok") != 1 {
		t.Fatal("expiry while down not counted")
	}
	h2.flush()
	if r := h2.metric("synguard_responder_reconcile_repairs_total"); r < 1 {
		t.Fatalf("restore of the lost entry is a repair: %v", r)
	}
	// Entries lost while the responder was down mean firewalld restarted or
	// reloaded: handled once as a restart (stale kernel rules of a crash).
	if fw.restarts != 1 {
		t.Fatalf("AfterRestart called %d times at start after lost entries, want 1", fw.restarts)
	}
	if got := fw.list(); fmt.Sprint(got) != "[2001:db8:7::/64]" {
		t.Fatalf("after the restart handling firewall holds %v", got)
	}
}

func TestFirewalldEvents(t *testing.T) {
	fw := newMem()
	h := start(t, filepath.Join(t.TempDir(), "state.json"), fw, newClock(), nil)
	h.send(alert("198.51.100.32/27", true), alert("198.51.100.64/27", true))

	// --reload drops runtime entries.
	fw.set(func(f *memFirewall) { f.entries = map[netip.Prefix]bool{} })
	h.e.Notify(EventReloaded)
	h.flush()
	if len(fw.list()) != 2 || h.metric("synguard_responder_reconcile_repairs_total") != 2 {
		t.Fatalf("reload not repaired: %v", fw.list())
	}

	// firewalld crashes: calls fail, desired kept, retried with backoff.
	fw.set(func(f *memFirewall) { f.down = true; f.entries = map[netip.Prefix]bool{} })
	h.e.Notify(EventStopped)
	if h.metric("synguard_responder_firewalld_up") != 0 {
		t.Fatal("firewalld_up not 0 after stop")
	}
	res, err := h.e.HandleAlerts(context.Background(), []policy.Alert{alert("198.51.100.96/27", true)})
	if err != nil || res.Blocked != 1 {
		t.Fatalf("block while firewalld down: %+v %v", res, err)
	}
	h.flush()
	if h.metric("synguard_responder_firewalld_errors_total", "op", "add") < 1 {
		t.Fatal("failed add not counted")
	}
	fw.set(func(f *memFirewall) { f.down = false })
	h.e.Notify(EventStarted)
	h.flush()
	if got := fw.list(); len(got) != 3 {
		t.Fatalf("after restart firewall holds %v", got)
	}
	if fw.restarts < 1 || h.metric("synguard_responder_firewalld_up") != 1 {
		t.Fatal("AfterRestart not called or up not restored")
	}
}

// TestRestartWithoutSignal: a retry reaches a restarted firewalld before
// (or without) its NameOwnerChanged signal. The engine must see the new
// owner and run AfterRestart before restoring anything, or a crash's stale
// kernel rules would outlive the next unblock.
func TestRestartWithoutSignal(t *testing.T) {
	fw := newMem()
	h := start(t, filepath.Join(t.TempDir(), "state.json"), fw, newClock(), nil)
	h.send(alert("198.51.100.32/27", true))
	// A crash: firewalld forgets its entries and comes back under a new
	// owner; no event is sent to the engine.
	fw.set(func(f *memFirewall) { f.entries = map[netip.Prefix]bool{}; f.newOwner = true; f.calls = nil })
	h.send(alert("198.51.100.64/27", true))
	h.flush()
	calls := fw.callLog()
	ri, si := slices.Index(calls, "restart"), slices.Index(calls, "sync")
	if ri < 0 || si < 0 || ri > si {
		t.Fatalf("calls after a silent restart: %v, want restart before sync", calls)
	}
	if got := fw.list(); len(got) != 2 {
		t.Fatalf("after the restart handling firewall holds %v", got)
	}
	// A late signal for the same restart does not reload again.
	before := fw.restarts
	h.e.Notify(EventStarted)
	h.flush()
	if fw.restarts != before+1 {
		t.Fatalf("late signal: AfterRestart ran %d more times, want 1 (the client skips an owner it prepared)", fw.restarts-before)
	}
}

func TestManualAndResolve(t *testing.T) {
	fw := newMem()
	clk := newClock()
	h := start(t, filepath.Join(t.TempDir(), "state.json"), fw, clk, func(c *policy.Config) { c.LiftOnResolve = true; c.MinHold = 30 * time.Minute })
	ctx := context.Background()
	p := netip.MustParsePrefix("198.51.100.32/27")
	if _, _, err := h.e.Block(ctx, netip.MustParsePrefix("192.168.0.0/16"), 0, "x"); err == nil {
		t.Fatal("manual /16 accepted")
	}
	var re *ErrRefused
	if _, _, err := h.e.Block(ctx, netip.MustParsePrefix("127.0.0.1/32"), 0, "x"); !errors.As(err, &re) || re.Reason != policy.ReasonAllowlisted {
		t.Fatalf("manual block of loopback: %v", err)
	}
	b, isNew, err := h.e.Block(ctx, p, 2*time.Hour, "seen in netstat")
	if err != nil || !isNew || b.Source != blockstore.SourceManual || b.Expiry.Sub(b.Since) != 2*time.Hour {
		t.Fatalf("manual block: %+v %v %v", b, isNew, err)
	}
	h.flush()
	if _, isNew, _ := h.e.Block(ctx, p, time.Hour, ""); isNew {
		t.Fatal("second manual block is new")
	}
	// A resolved alert never lifts a manual block.
	h.send(alert(p.String(), false))
	if len(fw.list()) != 1 {
		t.Fatal("resolve lifted a manual block")
	}
	if _, err := h.e.Unblock(ctx, p); err != nil {
		t.Fatal(err)
	}
	h.flush()
	if len(fw.list()) != 0 {
		t.Fatal("unblock left the firewall entry")
	}
	if _, err := h.e.Unblock(ctx, p); !errors.Is(err, ErrNotBlocked) {
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
	if len(fw.list()) != 1 {
		t.Fatal("resolve lifted before the minimum hold")
	}
	clk.Advance(20 * time.Minute)
	h.flush()
	if len(fw.list()) != 0 {
		t.Fatalf("resolve did not lift after the hold: %v", fw.list())
	}
}

func TestSaveFailureChangesNothing(t *testing.T) {
	fw := newMem()
	dir := t.TempDir()
	h := start(t, filepath.Join(dir, "state", "state.json"), fw, newClock(), nil)
	if err := os.RemoveAll(filepath.Join(dir, "state")); err != nil {
		t.Fatal(err)
	}
	_, err := h.e.HandleAlerts(context.Background(), []policy.Alert{alert("198.51.100.32/27", true)})
	if err == nil {
		t.Fatal("unsaved block reported as done")
	}
	h.flush()
	if len(fw.list()) != 0 || len(h.e.Status().Blocks) != 0 {
		t.Fatal("unsaved block applied")
	}
	if h.metric("synguard_responder_actions_total", "action", "block", "result", "failed") != 1 {
		t.Fatal("failed action not counted")
	}
}

func TestFirewallRefusalRetried(t *testing.T) {
	fw := newMem()
	h := start(t, filepath.Join(t.TempDir(), "state.json"), fw, newClock(), nil)
	n := 0
	fw.set(func(f *memFirewall) {
		f.AddFn = func([]netip.Prefix) error {
			n++
			if n == 1 {
				return errors.New("INVALID_IPSET: synguard4")
			}
			return nil
		}
	})
	h.send(alert("198.51.100.32/27", true))
	h.flush()
	h.flush()
	if got := fw.list(); len(got) != 1 {
		t.Fatalf("failed add not retried: %v (calls %v)", got, fw.calls)
	}
}

// TestUnconfirmedMissingIsNoRestart: blocks saved but never confirmed (the
// responder died between saving and applying) are simply applied at start,
// without treating firewalld as restarted.
func TestUnconfirmedMissingIsNoRestart(t *testing.T) {
	fw := newMem()
	clk := newClock()
	path := filepath.Join(t.TempDir(), "state.json")
	st, err := blockstore.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	p := netip.MustParsePrefix("198.51.100.32/27")
	st.Put(blockstore.Block{Prefix: p, Source: blockstore.SourceAlert, Since: clk.Now(), Expiry: clk.Now().Add(time.Hour), Offences: 1, Active: true, Installed: true})
	st.Save()
	st.Close()
	h := start(t, path, fw, clk, nil)
	if fw.restarts != 0 || fmt.Sprint(fw.list()) != "[198.51.100.32/27]" {
		t.Fatalf("restarts %d, firewall %v", fw.restarts, fw.list())
	}
	if b, _ := h.store.Get(p); !b.Applied {
		t.Fatal("applied block not marked confirmed")
	}
}
