package blocks

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/synguard/synguard/internal/blockstore"
	"github.com/synguard/synguard/internal/firewall"
	"github.com/synguard/synguard/internal/policy"
	"github.com/synguard/synguard/internal/prefix"
)

func open(t *testing.T, path string, d firewall.Description) (*Ledger, *blockstore.Store, error) {
	t.Helper()
	st, err := blockstore.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	l, err := New(Options{Store: st, Policy: policy.Default(), Backend: d, Registerer: prometheus.NewRegistry()})
	return l, st, err
}

// TestOtherBackendRefused: a state file whose owned blocks another backend
// (or mode) applied refuses to start, saying to purge first; once purged,
// the new backend takes it over, history kept.
func TestOtherBackendRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	ipset := firewall.Description{Backend: "firewalld", Mode: "ipset"}
	l, st, err := open(t, path, ipset)
	if err != nil {
		t.Fatal(err)
	}
	p := netip.MustParsePrefix("198.51.100.32/27")
	if _, _, err := l.Block(context.Background(), p, time.Hour, "test"); err != nil {
		t.Fatal(err)
	}
	st.Close()

	for _, other := range []firewall.Description{{Backend: "firewalld", Mode: "zone"}, {Backend: "nftables"}} {
		_, st, err := open(t, path, other)
		if !errors.Is(err, ErrOtherBackend) || !strings.Contains(err.Error(), "purge") || !strings.Contains(err.Error(), "firewalld/ipset") {
			t.Fatalf("start on %s with firewalld/ipset's blocks: %v, want ErrOtherBackend naming the old backend and purge", other, err)
		}
		st.Close()
	}

	l, st, err = open(t, path, ipset)
	if err != nil {
		t.Fatalf("same backend again: %v", err)
	}
	if n, err := l.Purge(context.Background(), firewall.NewMemory()); err != nil || n != 1 {
		t.Fatalf("purge: %d %v", n, err)
	}
	st.Close()
	l, st, err = open(t, path, firewall.Description{Backend: "nftables"})
	if err != nil {
		t.Fatalf("after purge another backend must start: %v", err)
	}
	if b, _ := st.Backend(); b != "nftables" {
		t.Fatalf("the state file records backend %q after the switch", b)
	}
	if b, ok := st.Get(p); !ok || b.Offences != 1 || b.Owned() {
		t.Fatalf("history after the switch: %+v %v", b, ok)
	}
	_ = l
}

// TestRequeueKeepsNewer: work put back after a failed call never undoes a
// change made meanwhile.
func TestRequeueKeepsNewer(t *testing.T) {
	l, _, err := open(t, filepath.Join(t.TempDir(), "state.json"), firewall.Description{Backend: "memory"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	a, b := netip.MustParsePrefix("198.51.100.32/27"), netip.MustParsePrefix("198.51.100.64/27")
	for _, p := range []netip.Prefix{a, b} {
		if _, _, err := l.Block(ctx, p, time.Hour, ""); err != nil {
			t.Fatal(err)
		}
	}
	w := l.Take()
	if len(w.Add) != 2 || len(w.Remove) != 0 {
		t.Fatalf("taken %+v", w)
	}
	// While the add of both fails, a is lifted.
	if _, err := l.Unblock(ctx, a); err != nil {
		t.Fatal(err)
	}
	l.Requeue(w)
	w = l.Take()
	if len(w.Add) != 1 || w.Add[0].Prefix != b || len(w.Remove) != 1 || w.Remove[0] != a {
		t.Fatalf("after the requeue: %+v, want add %s and remove %s", w, b, a)
	}
	if !l.Take().Empty() {
		t.Fatal("Take left work behind")
	}
}

// TestAllowlistIsRetroactive: a reload that allowlists a range, or a new
// own address, lifts every active block overlapping it, whole and audited.
func TestAllowlistIsRetroactive(t *testing.T) {
	st, err := blockstore.Open(filepath.Join(t.TempDir(), "state.json"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	var own []netip.Addr
	reg := prometheus.NewRegistry()
	l, err := New(Options{Store: st, Policy: policy.Default(), Backend: firewall.Description{Backend: "memory"}, Registerer: reg,
		OwnAddrs: func() ([]netip.Addr, error) { return own, nil }})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	a, b, c := netip.MustParsePrefix("198.51.100.0/24"), netip.MustParsePrefix("203.0.113.32/27"), netip.MustParsePrefix("192.0.2.64/27")
	for _, p := range []netip.Prefix{a, b, c} {
		if _, _, err := l.Block(ctx, p, time.Hour, "test"); err != nil {
			t.Fatal(err)
		}
	}
	l.Take()
	pol := policy.Default()
	pol.Allow, _ = prefix.ParseSet([]string{"198.51.100.128/25"}) // inside a: a goes whole
	if err := l.SetPolicy(pol); err != nil {
		t.Fatal(err)
	}
	own = []netip.Addr{netip.MustParseAddr("203.0.113.40")} // a new own address inside b
	l.RefreshOwn()
	w := l.Take()
	if fmt.Sprint(w.Remove) != fmt.Sprint([]netip.Prefix{a, b}) {
		t.Fatalf("removals after the allowlist change: %v, want %v and %v", w.Remove, a, b)
	}
	for _, p := range []netip.Prefix{a, b} {
		if r, _ := st.Get(p); r.Active || r.LiftReason != blockstore.LiftAllowlisted {
			t.Fatalf("record of %s: %+v", p, r)
		}
	}
	if r, _ := st.Get(c); !r.Active {
		t.Fatalf("a block the allowlist does not touch was lifted: %+v", r)
	}
	if got := counter(t, reg, "synguard_responder_actions_total", "action", ActionAllowlist); got != 2 {
		t.Fatalf("allowlist lifts counted %v, want 2", got)
	}
}

// counter returns the value of the series of name whose label has value.
func counter(t *testing.T, reg *prometheus.Registry, name, label, value string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == label && lp.GetValue() == value {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	t.Fatalf("no series %s{%s=%q}", name, label, value)
	return 0
}

// TestStoredTextAndHistoryBounded: what an unauthenticated sender controls
// (an alert's name and summary) is stored clipped, and the history of
// lifted blocks is capped, oldest forgotten first.
func TestStoredTextAndHistoryBounded(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	st, err := blockstore.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now().Add(-time.Hour)
	for i := range 1200 {
		p := netip.PrefixFrom(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 0, byte(i >> 8), byte(i)}), 64)
		st.Put(blockstore.Block{Prefix: p, Source: blockstore.SourceAlert, Since: t0, Expiry: t0, Offences: 1,
			LastLifted: t0.Add(time.Duration(i) * time.Second), LiftReason: blockstore.LiftExpired})
	}
	st.SetBackend("memory", "")
	if err := st.Save(); err != nil {
		t.Fatal(err)
	}
	st.Close()
	l, st, err := open(t, path, firewall.Description{Backend: "memory"})
	if err != nil {
		t.Fatal(err)
	}
	small := policy.Default()
	small.MaxActive = 10 // the history cap is then its floor, 1,000
	if err := l.SetPolicy(small); err != nil {
		t.Fatal(err)
	}
	huge := strings.Repeat("é", 1<<20)
	res, err := l.HandleAlerts(context.Background(), []policy.Alert{
		{Firing: true, Labels: map[string]string{"action": "block", "alertname": huge, "prefix": "198.51.100.32/27"}, Summary: huge},
		{Firing: true, Labels: map[string]string{"action": "block", "alertname": huge, "prefix": "10.0.0.0/8"}},
	})
	if err != nil || res.Blocked != 1 {
		t.Fatalf("handle: %+v %v", res, err)
	}
	b, _ := st.Get(netip.MustParsePrefix("198.51.100.32/27"))
	if len(b.Alert) > policy.MaxText || len(b.Reason) > policy.MaxText || !utf8.ValidString(b.Reason) || !strings.HasSuffix(b.Reason, "…") {
		t.Fatalf("stored %d-byte alert name and %d-byte reason, want at most %d, valid UTF-8, marked as cut", len(b.Alert), len(b.Reason), policy.MaxText)
	}
	for _, r := range l.Status().Refusals {
		if len(r.Detail) > policy.MaxText {
			t.Fatalf("a refusal keeps %d bytes of the alert's name", len(r.Detail))
		}
	}
	l.Confirm(nil)
	if n := st.Len(); n != l.historyCap()+1 {
		t.Fatalf("%d records after pruning, want the cap of lifted ones (%d) plus the active block", n, l.historyCap())
	}
	oldest := netip.MustParsePrefix("2001:db8::/64")
	newest := netip.PrefixFrom(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 0, 1199 >> 8, 1199 & 0xff}), 64)
	if _, ok := st.Get(oldest); ok {
		t.Fatal("the oldest lifted block was kept")
	}
	if _, ok := st.Get(newest); !ok {
		t.Fatal("the newest lifted block was forgotten")
	}
}
