package probe

import (
	"cmp"
	"context"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// maxFirstDelay caps the random delay before a target's first probe, so a
// fresh exporter reports every target soon while still spreading the start.
const maxFirstDelay = 10 * time.Second

// Stats are the scheduler's running figures, for its own metrics and the
// benchmark.
type Stats struct {
	// InFlight is how many probes run right now.
	InFlight int64
	// Waiting is how many targets wait for a free probe slot.
	Waiting int64
}

// TargetState is what the scheduler keeps per target: the last result and
// running counts.
type TargetState struct {
	Last     Result
	Runs     uint64
	Failures uint64
	Interval time.Duration
}

// Scheduler probes every target of a Config in the background, each on its
// own jittered interval, at most Concurrency at a time, and keeps the last
// result of each. One goroutine per target and no more: a probe runs in its
// target's goroutine, and a target whose probe overruns its interval skips
// the missed turns instead of queueing them.
type Scheduler struct {
	cfg    Config
	prober *Prober
	sem    chan struct{}

	inFlight, waiting atomic.Int64

	mu     sync.RWMutex
	states map[targetKey]*TargetState

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

type targetKey struct{ module, target string }

// NewScheduler returns a scheduler for cfg, not yet started. prev, when not
// nil, hands over its last results and counts for targets that stay, so a
// reload does not blank the metrics.
func NewScheduler(cfg Config, prober *Prober, prev *Scheduler) *Scheduler {
	n := cfg.Concurrency
	if n <= 0 {
		n = DefaultConcurrency
	}
	s := &Scheduler{cfg: cfg, prober: prober, sem: make(chan struct{}, n), states: map[targetKey]*TargetState{}}
	if prev != nil {
		prev.mu.RLock()
		for _, t := range cfg.Targets {
			k := targetKey{t.Module, t.Target}
			if st, ok := prev.states[k]; ok {
				c := *st
				c.Interval = t.Interval.Std()
				s.states[k] = &c
			}
		}
		prev.mu.RUnlock()
	}
	return s
}

// Start starts one goroutine per target. Stop ends them.
func (s *Scheduler) Start(ctx context.Context) {
	ctx, s.cancel = context.WithCancel(ctx)
	for _, t := range s.cfg.Targets {
		m := s.cfg.Modules[t.Module]
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.loop(ctx, t, &m)
		}()
	}
}

// Stop cancels every running probe and waits for the target goroutines to end.
func (s *Scheduler) Stop() {
	if s.cancel != nil {
		s.cancel()
	}
	s.wg.Wait()
}

func (s *Scheduler) loop(ctx context.Context, t Target, m *Module) {
	if t.Interval <= 0 { // a Config built in code, not loaded from YAML
		t.Interval = DefaultInterval
	}
	interval := t.Interval.Std()
	first := min(interval, maxFirstDelay)
	timer := time.NewTimer(rand.N(first))
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		next := time.Now().Add(jitter(interval))
		s.waiting.Add(1)
		select {
		case s.sem <- struct{}{}:
			s.waiting.Add(-1)
		case <-ctx.Done():
			s.waiting.Add(-1)
			return
		}
		s.inFlight.Add(1)
		r := s.prober.Probe(ctx, t.Module, m, t.Target)
		s.inFlight.Add(-1)
		<-s.sem
		if ctx.Err() != nil {
			return // stopped mid-probe: the result says nothing about the target
		}
		s.record(t, r)
		// If the probe (or the wait for a slot) overran the interval, the
		// next one starts at once rather than making up for missed turns.
		timer.Reset(max(time.Until(next), 0))
	}
}

// jitter spreads probes by up to ±10% of the interval so targets that share
// an interval do not fire together.
func jitter(d time.Duration) time.Duration {
	j := d / 10
	if j <= 0 {
		return d
	}
	return d - j + rand.N(2*j+1)
}

func (s *Scheduler) record(t Target, r Result) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := targetKey{t.Module, t.Target}
	st := s.states[k]
	if st == nil {
		st = &TargetState{}
		s.states[k] = st
	}
	st.Last, st.Interval = r, t.Interval.Std()
	st.Runs++
	if !r.Success {
		st.Failures++
	}
}

// States returns a copy of every target's state that has a result, sorted
// by module then target. It never waits on a probe.
func (s *Scheduler) States() []TargetState {
	s.mu.RLock()
	out := make([]TargetState, 0, len(s.states))
	for _, st := range s.states {
		out = append(out, *st)
	}
	s.mu.RUnlock()
	slices.SortFunc(out, func(a, b TargetState) int {
		return cmp.Or(cmp.Compare(a.Last.Module, b.Last.Module), cmp.Compare(a.Last.Target, b.Last.Target))
	})
	return out
}

// Stats returns the scheduler's running figures.
func (s *Scheduler) Stats() Stats {
	return Stats{InFlight: s.inFlight.Load(), Waiting: s.waiting.Load()}
}
