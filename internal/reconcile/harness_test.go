package reconcile

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/synguard/synguard/internal/blocks"
	"github.com/synguard/synguard/internal/blockstore"
	"github.com/synguard/synguard/internal/firewall"
	"github.com/synguard/synguard/internal/policy"
)

// faulty is the shipped in-memory backend with two test hooks: a call
// that fails once, and a function run at the start of a call (while the
// driver waits on it), to land a change in the middle of one.
type faulty struct {
	*firewall.Memory
	mu     sync.Mutex
	failOp map[string]error
	during func(op string)
}

func newFaulty() *faulty { return &faulty{Memory: firewall.NewMemory(), failOp: map[string]error{}} }

// failNext makes the next call of op fail with err.
func (f *faulty) failNext(op string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failOp[op] = err
}

// setDuring runs fn at the start of every later call.
func (f *faulty) setDuring(fn func(op string)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.during = fn
}

func (f *faulty) enter(op string) error {
	f.mu.Lock()
	err, fail := f.failOp[op]
	delete(f.failOp, op)
	during := f.during
	f.mu.Unlock()
	if during != nil {
		during(op)
	}
	if fail {
		return err
	}
	return nil
}

func (f *faulty) Add(ctx context.Context, es []firewall.Entry) ([]firewall.Result, error) {
	if err := f.enter("add"); err != nil {
		return nil, err
	}
	return f.Memory.Add(ctx, es)
}

func (f *faulty) Remove(ctx context.Context, ps []netip.Prefix) ([]firewall.Result, error) {
	if err := f.enter("remove"); err != nil {
		return nil, err
	}
	return f.Memory.Remove(ctx, ps)
}

func (f *faulty) Sync(ctx context.Context, d []firewall.Entry, o []netip.Prefix) (firewall.SyncResult, error) {
	if err := f.enter("sync"); err != nil {
		return firewall.SyncResult{}, err
	}
	return f.Memory.Sync(ctx, d, o)
}

var errDown = errors.New("org.freedesktop.DBus.Error.ServiceUnknown: firewalld is not there")

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)} }

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

// harness is a ledger and a driver over a state file and a backend, run
// until the test ends.
type harness struct {
	t      *testing.T
	d      *Driver
	fw     *faulty
	clk    *clock
	reg    *prometheus.Registry
	store  *blockstore.Store
	cancel context.CancelFunc
	done   chan struct{}
}

func start(t *testing.T, path string, fw *faulty, clk *clock, mod func(*policy.Config)) *harness {
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
	l, err := blocks.New(blocks.Options{
		Store: st, Policy: pol, Backend: fw.Describe(), Registerer: reg, Now: clk.Now,
		OwnAddrs: func() ([]netip.Addr, error) { return []netip.Addr{netip.MustParseAddr("203.0.113.10")}, nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	d, err := New(Options{Ledger: l, Backend: fw, Registerer: reg, Now: clk.Now,
		MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &harness{t: t, d: d, fw: fw, clk: clk, reg: reg, store: st, cancel: cancel, done: make(chan struct{})}
	go func() { d.Run(ctx); close(h.done) }()
	t.Cleanup(h.stop)
	h.flush()
	return h
}

func (h *harness) stop() {
	select {
	case <-h.done:
		return
	default:
	}
	h.cancel()
	<-h.done
	h.store.Close()
}

func (h *harness) flush() {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h.d.Flush(ctx); err != nil && errors.Is(err, context.DeadlineExceeded) {
		h.t.Fatal("flush timed out")
	}
}

// settle flushes until the backend answered a step without error (a few
// backoffs of the test's 1-5 ms).
func (h *harness) settle() {
	h.t.Helper()
	for range 50 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := h.d.Flush(ctx)
		cancel()
		if err == nil {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	h.t.Fatal("the driver did not settle")
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
	res, err := h.d.HandleAlerts(context.Background(), as)
	if err != nil {
		h.t.Fatal(err)
	}
	h.flush()
	return res.Refused
}

// held is what the backend holds as synguard's, as a string.
func (h *harness) held() string { return fmt.Sprint(h.fw.Owned()) }

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
