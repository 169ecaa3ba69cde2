package blocks

import (
	"context"
	"errors"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/synguard/synguard/internal/blockstore"
	"github.com/synguard/synguard/internal/firewall"
	"github.com/synguard/synguard/internal/policy"
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
