package probe

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// Manager owns the running Scheduler and the probe config, swaps both on
// reload, and serves their metrics and /probe. It is what cmd/exporter wires
// in: Apply at start and on every reload, register it as a collector (or
// add it to a collector.Set: it has Update), mount it at /probe, Stop at exit.
type Manager struct {
	logger *slog.Logger
	listen ICMPListener
	d      descs

	applyMu sync.Mutex // serialises Apply and Stop

	mu        sync.Mutex // guards the fields below; never held across a probe
	cfg       Config
	prober    *Prober
	sched     *Scheduler
	icmpKnown bool
}

// NewManager returns a Manager with nothing scheduled. listen is how ICMP
// sockets are tried at the first Apply (nil: the real ones).
func NewManager(logger *slog.Logger, listen ICMPListener) *Manager {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Manager{logger: logger, listen: listen, d: newDescs(), prober: &Prober{Logger: logger}}
}

// Apply starts probing cfg's targets, replacing (and stopping) what ran
// before and carrying over results of targets that stay. It refuses a config
// whose icmp targets cannot be probed on this host, leaving the old one
// running.
func (m *Manager) Apply(ctx context.Context, cfg Config) error {
	m.applyMu.Lock()
	defer m.applyMu.Unlock()
	_, prober, prev := m.current()
	if !m.icmpKnown && usesICMP(cfg) {
		priv, err := DetectICMP(m.listen)
		prober = &Prober{Logger: m.logger, ICMPPrivileged: priv, ICMPErr: err}
		m.icmpKnown = true
		if err == nil {
			mode := "unprivileged ping socket"
			if priv {
				mode = "raw socket (CAP_NET_RAW)"
			}
			m.logger.Info("icmp probes enabled", "mode", mode)
		}
	}
	m.mu.Lock()
	m.prober = prober
	m.mu.Unlock()
	if prober.ICMPErr != nil {
		for _, t := range cfg.Targets {
			if cfg.Modules[t.Module].Prober == ProberICMP {
				return fmt.Errorf("icmp target %q (module %q): %w", t.Target, t.Module, prober.ICMPErr)
			}
		}
	}
	next := NewScheduler(cfg, prober, prev)
	next.Start(context.WithoutCancel(ctx))
	m.mu.Lock()
	m.sched, m.cfg = next, cfg
	m.mu.Unlock()
	// Stop the old one outside mu: it waits for its probes, and a scrape
	// must not wait with it.
	if prev != nil {
		prev.Stop()
	}
	m.logger.Info("probes scheduled", "targets", len(cfg.Targets), "modules", len(cfg.Modules), "concurrency", cfg.Concurrency)
	return nil
}

func usesICMP(cfg Config) bool {
	for _, mod := range cfg.Modules {
		if mod.Prober == ProberICMP {
			return true
		}
	}
	return false
}

// Stop stops the scheduler and waits for its probes to end.
func (m *Manager) Stop() {
	m.applyMu.Lock()
	defer m.applyMu.Unlock()
	if _, _, s := m.current(); s != nil {
		s.Stop()
	}
}

// Scheduler returns the running scheduler, or nil before the first Apply.
func (m *Manager) Scheduler() *Scheduler {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.sched
}

func (m *Manager) current() (Config, *Prober, *Scheduler) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.cfg, m.prober, m.sched
}

// Describe implements prometheus.Collector.
func (m *Manager) Describe(ch chan<- *prometheus.Desc) { m.d.describe(ch) }

// Collect implements prometheus.Collector from the last results; it never
// waits on a probe.
func (m *Manager) Collect(ch chan<- prometheus.Metric) {
	_, _, s := m.current()
	m.d.emit(ch, s)
}

// Update implements collector.Collector.
func (m *Manager) Update(ch chan<- prometheus.Metric) error {
	m.Collect(ch)
	return nil
}
