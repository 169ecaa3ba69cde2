package nftables_test

import (
	"context"
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/synguard/synguard/internal/configfile"
	"github.com/synguard/synguard/internal/firewall"
	"github.com/synguard/synguard/internal/nftables"
)

var (
	p4   = netip.MustParsePrefix("198.51.100.32/27")
	wide = netip.MustParsePrefix("198.51.100.0/24")
)

func ctxT(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return c
}

func prepared(t *testing.T, ns string) *nftables.Backend {
	t.Helper()
	b := newBackend(t, ns)
	if err := b.Prepare(ctxT(t), nil); err != nil {
		t.Fatal(err)
	}
	return b
}

// kernelTimeouts reads `nft -j list set inet synguard block4`: each timed
// element's configured timeout and what is left of it, in seconds.
func kernelTimeouts(t *testing.T, ns string) map[string][2]float64 {
	t.Helper()
	out := run(t, "ip", "netns", "exec", ns, "nft", "-j", "list", "set", "inet", "synguard", "block4")
	var doc struct {
		Nftables []struct {
			Set *struct {
				Elem []struct {
					Elem struct {
						Val struct {
							Prefix struct {
								Addr string `json:"addr"`
								Len  int    `json:"len"`
							} `json:"prefix"`
						} `json:"val"`
						Timeout float64 `json:"timeout"`
						Expires float64 `json:"expires"`
					} `json:"elem"`
				} `json:"elem"`
			} `json:"set"`
		} `json:"nftables"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("parse %s: %v", out, err)
	}
	got := map[string][2]float64{}
	for _, o := range doc.Nftables {
		if o.Set == nil {
			continue
		}
		for _, e := range o.Set.Elem {
			if e.Elem.Val.Prefix.Addr == "" {
				continue // no timeout: nft writes the bare prefix, not an elem object
			}
			p := netip.PrefixFrom(netip.MustParseAddr(e.Elem.Val.Prefix.Addr), e.Elem.Val.Prefix.Len)
			got[p.String()] = [2]float64{e.Elem.Timeout, e.Elem.Expires}
		}
	}
	return got
}

// TestKernelTimeouts: each element expires a little past its block,
// renewed (not shortened) when the block is, and the kernel lifts a block
// by itself once its time is up.
func TestKernelTimeouts(t *testing.T) {
	ns := newNetns(t)
	b := prepared(t, ns)
	grace := nftables.DefaultTimeoutGrace
	at := time.Now().Add(time.Hour)
	if _, err := b.Add(ctxT(t), []firewall.Entry{{Prefix: p4, Expiry: at}}); err != nil {
		t.Fatal(err)
	}
	near := func(what string, want time.Duration) {
		t.Helper()
		got, ok := kernelTimeouts(t, ns)[p4.String()]
		if !ok {
			t.Fatalf("%s: no element %v", what, p4)
		}
		if d := time.Duration(got[1] * float64(time.Second)); d < want-10*time.Second || d > want+time.Second {
			t.Errorf("%s: element expires in %v, want about %v", what, d, want)
		}
	}
	near("after Add", time.Hour+grace)
	if _, err := b.Add(ctxT(t), []firewall.Entry{{Prefix: p4, Expiry: at.Add(time.Hour)}}); err != nil {
		t.Fatal(err)
	}
	near("after renewal", 2*time.Hour+grace)
	if _, err := b.Add(ctxT(t), []firewall.Entry{{Prefix: p4, Expiry: at}}); err != nil {
		t.Fatal(err)
	}
	near("after an earlier expiry", 2*time.Hour+grace)
	// Sync does as Add: renews, never shortens, changes nothing else.
	sr, err := b.Sync(ctxT(t), []firewall.Entry{{Prefix: p4, Expiry: at.Add(3 * time.Hour)}}, []netip.Prefix{p4})
	if err != nil || sr.Added+sr.Removed != 0 {
		t.Fatalf("Sync renewing = %+v, %v; want no change counted", sr, err)
	}
	near("after Sync renewing", 4*time.Hour+grace)
	// A block whose time is up but for 4s of grace: the kernel lifts it.
	gone := netip.MustParsePrefix("203.0.113.0/28")
	if _, err := b.Add(ctxT(t), []firewall.Entry{{Prefix: gone, Expiry: time.Now().Add(4*time.Second - grace)}}); err != nil {
		t.Fatal(err)
	}
	ps, _ := b.List(ctxT(t))
	if !contains(ps, gone) {
		t.Fatalf("List %v lacks %v right after Add", ps, gone)
	}
	deadline := time.Now().Add(15 * time.Second)
	for contains(ps, gone) && time.Now().Before(deadline) {
		time.Sleep(250 * time.Millisecond)
		ps, _ = b.List(ctxT(t))
	}
	if contains(ps, gone) {
		t.Errorf("the kernel kept %v past its timeout: %v", gone, ps)
	}
	if !contains(ps, p4) {
		t.Errorf("List %v lost %v", ps, p4)
	}
}

func contains(ps []netip.Prefix, p netip.Prefix) bool {
	for _, q := range ps {
		if q == p {
			return true
		}
	}
	return false
}

// TestOverlapBatches: a wider block replaces the narrower ones in the set
// within one batch, and its removal puts them back; no batch fails.
func TestOverlapBatches(t *testing.T) {
	ns := newNetns(t)
	b := prepared(t, ns)
	if _, err := b.Add(ctxT(t), []firewall.Entry{{Prefix: p4}, {Prefix: netip.MustParsePrefix("198.51.100.128/25")}}); err != nil {
		t.Fatal(err)
	}
	rs, err := b.Add(ctxT(t), []firewall.Entry{{Prefix: wide}, {Prefix: netip.MustParsePrefix("198.51.100.64/26")}})
	if err != nil {
		t.Fatalf("Add wide over narrow ones: %v", err)
	}
	for _, r := range rs {
		if r.Outcome != firewall.Applied {
			t.Errorf("%v: %v", r.Prefix, r.Outcome)
		}
	}
	if ps, _ := b.List(ctxT(t)); len(ps) != 1 || ps[0] != wide {
		t.Errorf("List = %v, want the cover [%v]", ps, wide)
	}
	if _, err := b.Remove(ctxT(t), []netip.Prefix{wide}); err != nil {
		t.Fatal(err)
	}
	ps, _ := b.List(ctxT(t))
	if len(ps) != 3 || !contains(ps, p4) {
		t.Errorf("after Remove of the wide one List = %v, want the three narrow ones back", ps)
	}
}

// TestWatch: another process deleting synguard's table, or flushing the
// ruleset, is a Reloaded event; the backend's own rebuild and changes to
// other tables are not.
func TestWatch(t *testing.T) {
	ns := newNetns(t)
	b := prepared(t, ns)
	evs := make(chan firewall.Event, 16)
	wctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Watch(wctx, func(ev firewall.Event) { evs <- ev }) }()
	defer func() {
		cancel()
		if err := <-done; err != context.Canceled {
			t.Errorf("Watch returned %v", err)
		}
	}()
	time.Sleep(200 * time.Millisecond)
	quiet := func(what string) {
		t.Helper()
		select {
		case ev := <-evs:
			t.Errorf("%s: unexpected event %+v", what, ev)
		case <-time.After(500 * time.Millisecond):
		}
	}
	await := func(what string) {
		t.Helper()
		select {
		case ev := <-evs:
			if ev.Kind != firewall.Reloaded || !strings.Contains(ev.Detail, "nft") {
				t.Errorf("%s: event %+v, want Reloaded naming nft", what, ev)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: no event within 5s", what)
		}
	}
	if _, err := nftIn(ns, "table inet other {\n chain c {\n  type filter hook input priority 5;\n }\n}\ndelete table inet other\n"); err != nil {
		t.Fatal(err)
	}
	quiet("another table")
	if _, err := b.Add(ctxT(t), []firewall.Entry{{Prefix: p4}}); err != nil {
		t.Fatal(err)
	}
	quiet("Add")
	if _, err := nftIn(ns, "delete table inet synguard\n"); err != nil {
		t.Fatal(err)
	}
	await("nft delete table")
	sr, err := b.Sync(ctxT(t), []firewall.Entry{{Prefix: p4}}, []netip.Prefix{p4})
	if err != nil || sr.Added != 1 {
		t.Fatalf("Sync after delete = %+v, %v; want the block restored", sr, err)
	}
	quiet("the backend's own rebuild")
	if _, err := nftIn(ns, "flush ruleset\n"); err != nil {
		t.Fatal(err)
	}
	await("nft flush ruleset")
	if _, err := b.Sync(ctxT(t), []firewall.Entry{{Prefix: p4}}, []netip.Prefix{p4}); err != nil {
		t.Fatal(err)
	}
	quiet("the backend's own restore")
	if _, err := nftIn(ns, "flush chain inet synguard input\ndelete chain inet synguard input\n"); err != nil {
		t.Fatal(err)
	}
	await("nft delete chain")
	sr, err = b.Sync(ctxT(t), []firewall.Entry{{Prefix: p4}}, []netip.Prefix{p4})
	if err != nil || sr.Added != 1 {
		t.Errorf("Sync after a deleted chain = %+v, %v; want the table rebuilt", sr, err)
	}
}

// TestConfig: the section's defaults and refusals.
func TestConfig(t *testing.T) {
	if err := nftables.DefaultConfig().Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	for _, c := range []nftables.Config{
		{Table: "", TimeoutGrace: configfile.Duration(time.Hour)},
		{Table: "1abc", TimeoutGrace: configfile.Duration(time.Hour)},
		{Table: "syn guard", TimeoutGrace: configfile.Duration(time.Hour)},
		{Table: "synguard", TimeoutGrace: configfile.Duration(time.Second)},
	} {
		if err := c.Validate(); err == nil {
			t.Errorf("%+v: valid", c)
		}
	}
}

// TestRestartAndLoss: a second backend (the responder restarted) finds the
// blocks where the first left them and rebuilds nothing; after the table
// is deleted under it, Add fails as a call (the caller then syncs), and
// Sync restores every block.
func TestRestartAndLoss(t *testing.T) {
	ns := newNetns(t)
	first := prepared(t, ns)
	if _, err := first.Add(ctxT(t), []firewall.Entry{{Prefix: p4, Expiry: time.Now().Add(time.Hour)}, {Prefix: wide}}); err != nil {
		t.Fatal(err)
	}
	before := run(t, "ip", "netns", "exec", ns, "nft", "-a", "list", "chain", "inet", "synguard", "prerouting")
	second := newBackend(t, ns)
	if err := second.Prepare(ctxT(t), []netip.Prefix{p4, wide}); err != nil {
		t.Fatal(err)
	}
	if after := run(t, "ip", "netns", "exec", ns, "nft", "-a", "list", "chain", "inet", "synguard", "prerouting"); after != before {
		t.Errorf("Prepare of an intact table rebuilt it:\n%s\n->\n%s", before, after)
	}
	sr, err := second.Sync(ctxT(t), []firewall.Entry{{Prefix: p4, Expiry: time.Now().Add(time.Hour)}, {Prefix: wide}}, []netip.Prefix{p4, wide})
	if err != nil || sr.Added+sr.Removed != 0 {
		t.Errorf("Sync after a restart = %+v, %v; want nothing to repair", sr, err)
	}
	if _, err := nftIn(ns, "delete table inet synguard\n"); err != nil {
		t.Fatal(err)
	}
	if rs, err := second.Add(ctxT(t), []firewall.Entry{{Prefix: netip.MustParsePrefix("192.0.2.0/24")}}); err == nil {
		t.Errorf("Add with the table gone = %v, nil; want the call's error", rs)
	}
	sr, err = second.Sync(ctxT(t), []firewall.Entry{{Prefix: p4}, {Prefix: wide}, {Prefix: netip.MustParsePrefix("192.0.2.0/24")}}, []netip.Prefix{p4, wide})
	if err != nil || sr.Added != 2 {
		t.Errorf("Sync after the loss = %+v, %v; want the cover (%v, 192.0.2.0/24) back", sr, err, wide)
	}
	if ps, _ := second.List(ctxT(t)); len(ps) != 2 {
		t.Errorf("List after the restore = %v", ps)
	}
}

// TestAddAfterRestart: the first Add of a restarted responder, before any
// Sync, keeps the blocks it finds in the sets and their kernel timeouts.
func TestAddAfterRestart(t *testing.T) {
	ns := newNetns(t)
	first := prepared(t, ns)
	if _, err := first.Add(ctxT(t), []firewall.Entry{{Prefix: p4, Expiry: time.Now().Add(time.Hour)}}); err != nil {
		t.Fatal(err)
	}
	second := prepared(t, ns) // held unknown: a lost state file
	other := netip.MustParsePrefix("192.0.2.0/24")
	if _, err := second.Add(ctxT(t), []firewall.Entry{{Prefix: other}}); err != nil {
		t.Fatal(err)
	}
	if ps, _ := second.List(ctxT(t)); !contains(ps, p4) || !contains(ps, other) {
		t.Errorf("List after the restarted Add = %v, want %v kept beside %v", ps, p4, other)
	}
	if got := kernelTimeouts(t, ns)[p4.String()]; got[0] == 0 {
		t.Errorf("%v lost its kernel timeout: %v", p4, got)
	}
}
