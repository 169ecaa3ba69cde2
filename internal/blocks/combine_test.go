package blocks

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/synguard/synguard/internal/blockstore"
	"github.com/synguard/synguard/internal/firewall"
	"github.com/synguard/synguard/internal/origin"
	"github.com/synguard/synguard/internal/policy"
)

// gate is an OriginLookup that holds the decision of one prefix until
// released: the batch deciding it stays in flight meanwhile.
type gate struct {
	p       netip.Prefix
	once    sync.Once
	entered chan struct{}
	release chan struct{}
}

func newGate(p string) *gate {
	return &gate{p: netip.MustParsePrefix(p), entered: make(chan struct{}), release: make(chan struct{})}
}

func (g *gate) Lookup(p netip.Prefix) origin.Info {
	if p == g.p {
		g.once.Do(func() { close(g.entered); <-g.release })
	}
	return origin.Info{}
}

func batchLedger(t *testing.T, path string, o OriginLookup) *Ledger {
	t.Helper()
	st, err := blockstore.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	pol := policy.Default()
	pol.MaxActive = 100000
	pol.RatePerMinute, pol.Burst = 1000000, 100000
	l, err := New(Options{Store: st, Policy: pol, Backend: firewall.NewMemory().Describe(), Registerer: prometheus.NewRegistry(), Origin: o})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func firing(p string) policy.Alert {
	return policy.Alert{Firing: true, Summary: "SYN flood from " + p,
		Labels: map[string]string{"alertname": "SynFloodPrefix", "action": "block", "prefix": p}}
}

// nthAlerts is notification i's k alerts, for distinct /29s of 198.18.0.0/15.
func nthAlerts(i, k int) []policy.Alert {
	as := make([]policy.Alert, k)
	for j := range as {
		n := i*k + j
		as[j] = firing(fmt.Sprintf("198.%d.%d.%d/29", 18+n/8192, n/32%256, n%32*8))
	}
	return as
}

func histCount(t *testing.T, h prometheus.Histogram) uint64 {
	t.Helper()
	var m dto.Metric
	if err := h.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetHistogram().GetSampleCount()
}

func activeCount(l *Ledger) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	l.store.Each(func(b blockstore.Block) {
		if b.Active {
			n++
		}
	})
	return n
}

func queued(l *Ledger) int {
	l.combine.mu.Lock()
	defer l.combine.mu.Unlock()
	return len(l.combine.queue)
}

// inFlight starts a notification whose batch stays in flight (held in its
// decision by g) until g is released, then n more notifications of k
// alerts that arrive meanwhile, and returns once all n wait in the queue.
func inFlight(t *testing.T, l *Ledger, g *gate, n, k int) (wait func() []error) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make([]error, n+1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		_, errs[n] = l.HandleAlerts(context.Background(), []policy.Alert{firing(g.p.String())})
	}()
	<-g.entered
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := l.HandleAlerts(context.Background(), nthAlerts(i, k))
			if err == nil && res.Blocked != k {
				err = fmt.Errorf("notification %d: %+v, want %d blocked", i, res, k)
			}
			errs[i] = err
		}()
	}
	deadline := time.Now().Add(10 * time.Second)
	for queued(l) < n {
		if time.Now().After(deadline) {
			close(g.release)
			t.Fatalf("only %d of %d notifications queued behind the batch in flight", queued(l), n)
		}
		time.Sleep(time.Millisecond)
	}
	return func() []error {
		close(g.release)
		wg.Wait()
		return errs
	}
}

// TestGroupCommit: notifications that arrive while a batch is decided and
// saved are decided together in the next batch and saved in one write,
// and their blocks reach the driver as one Work. Without the group commit
// each would be a save of its own.
func TestGroupCommit(t *testing.T) {
	const n, k = 40, 10
	g := newGate("203.0.113.64/27")
	l := batchLedger(t, filepath.Join(t.TempDir(), "state.json"), g)
	saves0 := histCount(t, l.m.saveDur)
	wait := inFlight(t, l, g, n, k)
	for i, err := range wait() {
		if err != nil {
			t.Fatalf("notification %d: %v", i, err)
		}
	}
	if b := histCount(t, l.m.batches); b != 2 {
		t.Fatalf("%d batches for one in flight and %d queued behind it, want 2", b, n)
	}
	if s := histCount(t, l.m.saveDur) - saves0; s != 2 {
		t.Fatalf("%d saves for two batches of %d notifications, want 2", s, n+1)
	}
	w := l.Take()
	if len(w.Add) != n*k+1 || len(w.Remove) != 0 {
		t.Fatalf("work handed to the driver: %d adds %d removes, want %d adds", len(w.Add), len(w.Remove), n*k+1)
	}
	if got := activeCount(l); got != n*k+1 {
		t.Fatalf("%d active blocks, want %d", got, n*k+1)
	}
}

// TestGroupCommitSaveFails: when a batch's save fails, every notification
// of it is refused and nothing of any of them stays: the store holds none
// of their blocks and the driver gets no work.
func TestGroupCommitSaveFails(t *testing.T) {
	const n, k = 8, 5
	dir := t.TempDir()
	g := newGate("203.0.113.64/27")
	l := batchLedger(t, filepath.Join(dir, "state", "state.json"), g)
	wait := inFlight(t, l, g, n, k)
	if err := os.RemoveAll(filepath.Join(dir, "state")); err != nil {
		t.Fatal(err)
	}
	for i, err := range wait() {
		if err == nil {
			t.Fatalf("notification %d answered as saved, but no save succeeded", i)
		}
	}
	if w := l.Take(); !w.Empty() {
		t.Fatalf("work queued for the firewall after failed saves: %d adds", len(w.Add))
	}
	if got := activeCount(l); got != 0 {
		t.Fatalf("%d active blocks after failed saves, want 0", got)
	}
}

// TestBatchBound: a batch takes whole notifications up to maxBatchAlerts
// alerts, at least one.
func TestBatchBound(t *testing.T) {
	var cb combiner
	for range 3 {
		cb.queue = append(cb.queue, &notification{alerts: make([]policy.Alert, maxBatchAlerts/2)})
	}
	cb.queue = append(cb.queue, &notification{alerts: make([]policy.Alert, 2*maxBatchAlerts)})
	for i, want := range []int{2, 1, 1} {
		if got := len(cb.takeLocked()); got != want {
			t.Fatalf("batch %d: %d notifications, want %d", i, got, want)
		}
	}
	if cb.queue != nil {
		t.Fatalf("queue left: %d", len(cb.queue))
	}
}

// TestBusy: a burst is under way while notifications are queued or being
// decided, or arrive less than quietGap apart; a lone notification is no
// burst, so the driver takes its work at once.
func TestBusy(t *testing.T) {
	t0 := time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name       string
		prev, last time.Duration // arrivals after t0
		queued     bool
		running    bool
		now        time.Duration
		busy       bool
	}{
		{name: "lone notification", prev: 0, last: time.Second, now: time.Second + time.Millisecond},
		{name: "queued", prev: 0, last: time.Second, queued: true, now: time.Second, busy: true},
		{name: "being decided", prev: 0, last: time.Second, running: true, now: time.Second, busy: true},
		{name: "burst under way", prev: time.Second, last: time.Second + time.Millisecond, now: time.Second + 2*time.Millisecond, busy: true},
		{name: "burst over", prev: time.Second, last: time.Second + time.Millisecond, now: time.Second + time.Millisecond + quietGap},
	} {
		cb := combiner{prev: t0.Add(tc.prev), last: t0.Add(tc.last), running: tc.running}
		if tc.queued {
			cb.queue = []*notification{{}}
		}
		if got := cb.busy(t0.Add(tc.now)) > 0; got != tc.busy {
			t.Errorf("%s: busy %v, want %v", tc.name, got, tc.busy)
		}
	}
}
