package blocks

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
	ActionPurge   = "purge"   // every owned block removed (uninstall, emergency)
	ActionPause   = "pause"   // the operator's pause switch
	// ActionAllowlist lifts a block the allowlist (or an own address)
	// came to overlap.
	ActionAllowlist = "allowlist"
	// ActionWiden blocks a wider prefix in place of the alert blocks
	// inside it (policy.widen); ActionWidened lifts each of those.
	ActionWiden   = "widen"
	ActionWidened = "widened"

	ResultOK        = "ok"        // decided and saved; the firewall follows
	ResultDuplicate = "duplicate" // already so: nothing changed
	ResultDryRun    = "dry_run"   // would have been done
	ResultIgnored   = "ignored"   // nothing to do (a resolve that lifts nothing)
	ResultFailed    = "failed"    // the state could not be saved: nothing changed
)

type metrics struct {
	active  *prometheus.GaugeVec
	actions *prometheus.CounterVec
	refused *prometheus.CounterVec
	paused  prometheus.Gauge
	max     prometheus.Gauge
	saveErr prometheus.Counter
	waiting prometheus.Gauge
	// batches: notifications per group commit; saveDur: every save.
	batches prometheus.Histogram
	saveDur prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		active: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "synguard_responder_blocks_active",
			Help: "Blocks the responder wants in the firewall now, by address family.",
		}, []string{"family"}),
		actions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "synguard_responder_actions_total",
			Help: "Block actions decided, by action (block, unblock, expire, resolve, allowlist, widen, widened) and result (ok, duplicate, dry_run, ignored, failed).",
		}, []string{"action", "result"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "synguard_responder_refused_total",
			Help: "Alerts, requests and notifications refused, by reason.",
		}, []string{"reason"}),
		paused: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "synguard_responder_paused",
			Help: "Whether the operator paused the responder (1: alerts are acknowledged and change nothing).",
		}),
		max: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "synguard_responder_blocks_max",
			Help: "The cap on active blocks (policy.max_active_blocks); new blocks beyond it are refused (cap_reached).",
		}),
		saveErr: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "synguard_responder_state_save_errors_total",
			Help: "Failed writes of the state file (disk full, read-only): the change was not made, or, for an expiry, is retried with backoff while the firewall keeps blocking.",
		}),
		waiting: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "synguard_responder_alerts_waiting",
			Help: "Firing block alerts refused for the rate limit or the cap and waiting to be applied as soon as it allows (at most max_active_blocks, each at most an hour).",
		}),
		batches: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "synguard_responder_notification_batch_size",
			Help:    "Webhook notifications decided and saved together in one write (a group commit): those that arrived while the previous batch was saved.",
			Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256},
		}),
		saveDur: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "synguard_responder_state_save_duration_seconds",
			Help:    "Writes of the state (a journal record and its fsync, or a snapshot), each made durable before the change it holds is acknowledged.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1},
		}),
	}
	for _, f := range []string{prefix.FamilyIPv4, prefix.FamilyIPv6} {
		m.active.WithLabelValues(f)
	}
	// Every pair the ledger can count, so that each shows at zero.
	for a, rs := range map[string][]string{
		ActionBlock:     {ResultOK, ResultDuplicate, ResultDryRun, ResultFailed},
		ActionUnblock:   {ResultOK, ResultDryRun, ResultFailed},
		ActionExpire:    {ResultOK},
		ActionAllowlist: {ResultOK},
		ActionWiden:     {ResultOK, ResultDryRun},
		ActionWidened:   {ResultOK},
		ActionResolve:   {ResultOK, ResultIgnored, ResultDryRun},
	} {
		for _, r := range rs {
			m.actions.WithLabelValues(a, r)
		}
	}
	for _, r := range policy.Reasons {
		m.refused.WithLabelValues(string(r))
	}
	reg.MustRegister(m.active, m.actions, m.refused, m.paused, m.max, m.saveErr, m.waiting, m.batches, m.saveDur)
	return m
}

var expiryDesc = prometheus.NewDesc("synguard_responder_block_expiry_timestamp_seconds",
	"When each active block is lifted, by prefix: one series per active block, so at most policy.max_active_blocks.",
	[]string{"family", "prefix"}, nil)

// expiryCollector publishes each active block's expiry at scrape time, so a
// lifted block leaves no stale series.
type expiryCollector struct{ l *Ledger }

// Describe implements prometheus.Collector.
func (c expiryCollector) Describe(ch chan<- *prometheus.Desc) { ch <- expiryDesc }

// Collect implements prometheus.Collector.
func (c expiryCollector) Collect(ch chan<- prometheus.Metric) {
	c.l.mu.Lock()
	defer c.l.mu.Unlock()
	c.l.store.Each(func(b blockstore.Block) {
		if b.Active {
			ch <- prometheus.MustNewConstMetric(expiryDesc, prometheus.GaugeValue,
				float64(b.Expiry.UnixNano())/1e9, b.Family(), b.Prefix.String())
		}
	})
}
