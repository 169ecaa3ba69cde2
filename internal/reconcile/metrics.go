package reconcile

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/synguard/synguard/internal/blockstore"
	"github.com/synguard/synguard/internal/policy"
	"github.com/synguard/synguard/internal/prefix"
)

// Actions and their results: label values of
// synguard_responder_actions_total.
const (
	ActionBlock   = "block"   // a new block, from an alert or an operator
	ActionUnblock = "unblock" // an operator's lift
	ActionExpire  = "expire"  // a block reached its expiry
	ActionResolve = "resolve" // a resolved alert (lifts only where configured)

	ResultOK        = "ok"        // decided and saved; firewalld follows
	ResultDuplicate = "duplicate" // already so: nothing changed
	ResultDryRun    = "dry_run"   // would have been done
	ResultIgnored   = "ignored"   // nothing to do (a resolve that lifts nothing)
	ResultFailed    = "failed"    // the state could not be saved: nothing changed
)

// Firewall operations: label values of synguard_responder_firewalld_errors_total.
const (
	opSetup   = "setup"
	opRestart = "restart"
	opAdd     = "add"
	opRemove  = "remove"
	opSync    = "sync"
)

type metrics struct {
	active   *prometheus.GaugeVec
	actions  *prometheus.CounterVec
	refused  *prometheus.CounterVec
	up       prometheus.Gauge
	repairs  prometheus.Counter
	fwErrors *prometheus.CounterVec
	paused   prometheus.Gauge
	lastSync prometheus.Gauge
	max      prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		active: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "synguard_responder_blocks_active",
			Help: "Blocks the responder wants in firewalld now, by address family.",
		}, []string{"family"}),
		actions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "synguard_responder_actions_total",
			Help: "Block actions decided, by action (block, unblock, expire, resolve) and result (ok, duplicate, dry_run, ignored, failed).",
		}, []string{"action", "result"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "synguard_responder_refused_total",
			Help: "Alerts, requests and notifications refused, by reason.",
		}, []string{"reason"}),
		up: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "synguard_responder_firewalld_up",
			Help: "Whether firewalld answered the responder's last call (1) or not (0).",
		}),
		repairs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "synguard_responder_reconcile_repairs_total",
			Help: "Entries a reconcile had to add to or remove from firewalld because they had been lost or left behind (a reload, a restart, someone else's change).",
		}),
		fwErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "synguard_responder_firewalld_errors_total",
			Help: "Failed firewalld operations, by operation (setup, restart, add, remove, sync); each is retried with backoff.",
		}, []string{"op"}),
		paused: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "synguard_responder_paused",
			Help: "Whether the operator paused the responder (1: alerts are acknowledged and change nothing).",
		}),
		max: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "synguard_responder_blocks_max",
			Help: "The cap on active blocks (policy.max_active_blocks); new blocks beyond it are refused (cap_reached).",
		}),
		lastSync: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "synguard_responder_last_reconcile_success_timestamp_seconds",
			Help: "When firewalld last matched the desired state after a full reconcile.",
		}),
	}
	for _, f := range []string{prefix.FamilyIPv4, prefix.FamilyIPv6} {
		m.active.WithLabelValues(f)
	}
	// Every pair the engine can count, so that each shows at zero.
	for a, rs := range map[string][]string{
		ActionBlock:   {ResultOK, ResultDuplicate, ResultDryRun, ResultFailed},
		ActionUnblock: {ResultOK, ResultDryRun, ResultFailed},
		ActionExpire:  {ResultOK},
		ActionResolve: {ResultOK, ResultIgnored, ResultDryRun},
	} {
		for _, r := range rs {
			m.actions.WithLabelValues(a, r)
		}
	}
	for _, r := range policy.Reasons {
		m.refused.WithLabelValues(string(r))
	}
	for _, op := range []string{opSetup, opRestart, opAdd, opRemove, opSync} {
		m.fwErrors.WithLabelValues(op)
	}
	reg.MustRegister(m.active, m.actions, m.refused, m.up, m.repairs, m.fwErrors, m.paused, m.lastSync, m.max)
	return m
}

var expiryDesc = prometheus.NewDesc("synguard_responder_block_expiry_timestamp_seconds",
	"When each active block is lifted, by prefix: one series per active block, so at most policy.max_active_blocks.",
	[]string{"family", "prefix"}, nil)

// expiryCollector publishes each active block's expiry at scrape time, so a
// lifted block leaves no stale series.
type expiryCollector struct{ e *Engine }

// Describe implements prometheus.Collector.
func (c expiryCollector) Describe(ch chan<- *prometheus.Desc) { ch <- expiryDesc }

// Collect implements prometheus.Collector.
func (c expiryCollector) Collect(ch chan<- prometheus.Metric) {
	c.e.mu.Lock()
	defer c.e.mu.Unlock()
	c.e.store.Each(func(b blockstore.Block) {
		if b.Active {
			ch <- prometheus.MustNewConstMetric(expiryDesc, prometheus.GaugeValue,
				float64(b.Expiry.UnixNano())/1e9, b.Family(), b.Prefix.String())
		}
	})
}
