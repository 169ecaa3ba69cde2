package reconcile

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/synguard/synguard/internal/blocks"
	"github.com/synguard/synguard/internal/blockstore"
	"github.com/synguard/synguard/internal/firewall"
	"github.com/synguard/synguard/internal/policy"
)

// nthAlerts is notification i's k alerts, for distinct /29s of
// 198.18.0.0/15 (a range that carries no traffic).
func nthAlerts(i, k int) []policy.Alert {
	as := make([]policy.Alert, k)
	for j := range as {
		n := i*k + j
		as[j] = alert(fmt.Sprintf("198.%d.%d.%d/29", 18+n/8192, n/32%256, n%32*8), true)
	}
	return as
}

func openPolicy(c *policy.Config) {
	c.MaxActive = 100000
	c.RatePerMinute, c.Burst = 1000000, 100000
}

// TestArrivalsDuringCallCoalesce: what is saved while an Add is in flight
// goes to the backend in one next Add, however many notifications (and
// saves) it came in; the backend's entries are then the active set.
func TestArrivalsDuringCallCoalesce(t *testing.T) {
	const n, k = 50, 10
	fw := newFaulty()
	h := start(t, filepath.Join(t.TempDir(), "state.json"), fw, newClock(), openPolicy)
	entered, release := make(chan struct{}), make(chan struct{})
	var adds atomic.Int64
	var once sync.Once
	fw.setDuring(func(op string) {
		if op == "add" && adds.Add(1) == 1 {
			once.Do(func() { close(entered) })
			<-release
		}
	})
	if _, err := h.d.HandleAlerts(context.Background(), []policy.Alert{alert("203.0.113.64/27", true)}); err != nil {
		t.Fatal(err)
	}
	<-entered
	// n notifications saved while the first Add is in flight.
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := h.d.HandleAlerts(context.Background(), nthAlerts(i, k)); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	close(release)
	h.flush()
	if got := adds.Load(); got != 2 {
		t.Fatalf("%d Add calls for one in flight and %d notifications saved meanwhile, want 2", got, n)
	}
	if calls, entries := histOf(t, h.reg, "synguard_responder_backend_call_entries", "add"); calls != 2 || entries != n*k+1 {
		t.Fatalf("Add calls counted %d with %v entries, want 2 with %d", calls, entries, n*k+1)
	}
	if got := len(fw.Owned()); got != n*k+1 {
		t.Fatalf("the backend holds %d entries, want %d", got, n*k+1)
	}
}

// countingBackend is the memory backend counting Add calls, each taking
// delay (a firewalld call costs milliseconds to a second).
type countingBackend struct {
	*firewall.Memory
	delay       time.Duration
	adds, added atomic.Int64
}

func (c *countingBackend) Add(ctx context.Context, es []firewall.Entry) ([]firewall.Result, error) {
	c.adds.Add(1)
	c.added.Add(int64(len(es)))
	time.Sleep(c.delay)
	return c.Memory.Add(ctx, es)
}

// BenchmarkCoalesce sends 10,000 prefixes as 1,000 notifications of 10
// alerts, 250 at a time (the daemon's connection cap is 256), through the
// ledger and the driver over a real state file and the memory backend
// whose Add takes 5 ms: the notifications' group commits and the driver's
// coalesced Adds. It reports the saves, the Add calls and the time from
// the last notification's answer until the backend held every prefix.
//
//	go test ./internal/reconcile -run '^$' -bench Coalesce -benchtime 3x
func BenchmarkCoalesce(b *testing.B) {
	const notes, k, senders = 1000, 10, 250
	var saves, adds, acked, drained float64
	for range b.N {
		b.StopTimer()
		st, err := blockstore.Open(filepath.Join(b.TempDir(), "state.json"))
		if err != nil {
			b.Fatal(err)
		}
		pol := policy.Default()
		openPolicy(&pol)
		reg := prometheus.NewRegistry()
		fw := &countingBackend{Memory: firewall.NewMemory(), delay: 5 * time.Millisecond}
		l, err := blocks.New(blocks.Options{Store: st, Policy: pol, Backend: fw.Describe(), Registerer: reg})
		if err != nil {
			b.Fatal(err)
		}
		d, err := New(Options{Ledger: l, Backend: fw, Registerer: reg})
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { d.Run(ctx); close(done) }()
		if err := d.Flush(ctx); err != nil {
			b.Fatal(err)
		}
		saves0 := savesOf(b, reg)
		fw.adds.Store(0)
		b.StartTimer()
		t0 := time.Now()
		var next atomic.Int64
		var wg sync.WaitGroup
		for range senders {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := int(next.Add(1) - 1); i < notes; i = int(next.Add(1) - 1) {
					if _, err := d.HandleAlerts(ctx, nthAlerts(i, k)); err != nil {
						b.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		t1 := time.Now()
		for len(fw.Owned()) < notes*k {
			if err := d.Flush(ctx); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		acked += float64(t1.Sub(t0)) / 1e6
		drained += float64(time.Since(t1)) / 1e6
		saves += savesOf(b, reg) - saves0
		adds += float64(fw.adds.Load())
		cancel()
		<-done
		st.Close()
	}
	n := float64(b.N)
	b.ReportMetric(saves/n, "saves/op")
	b.ReportMetric(adds/n, "adds/op")
	b.ReportMetric(acked/n, "acked-ms")
	b.ReportMetric(drained/n, "last-ack-to-all-ms")
}

func savesOf(b *testing.B, reg *prometheus.Registry) float64 {
	n, _ := histOf(b, reg, "synguard_responder_state_save_duration_seconds", "")
	return float64(n)
}

// histOf returns the sample count and sum of histogram name (of op, when
// not empty).
func histOf(t testing.TB, reg *prometheus.Registry, name, op string) (uint64, float64) {
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
				if op == "" || lp.GetName() == "op" && lp.GetValue() == op {
					return m.GetHistogram().GetSampleCount(), m.GetHistogram().GetSampleSum()
				}
			}
			if op == "" {
				return m.GetHistogram().GetSampleCount(), m.GetHistogram().GetSampleSum()
			}
		}
	}
	t.Fatalf("histogram %s{op=%q} not found", name, op)
	return 0, 0
}
