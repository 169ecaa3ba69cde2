package reconcile

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/synguard/synguard/internal/firewall"
)

// Backend operations: label values of synguard_responder_backend_errors_total.
const (
	opPrepare = "prepare"
	opAdd     = "add"
	opRemove  = "remove"
	opSync    = "sync"
)

type metrics struct {
	up      prometheus.Gauge
	errors  *prometheus.CounterVec
	refused *prometheus.CounterVec
	repairs prometheus.Counter
	// reloadRepairs: the repairs of syncs that followed a reported reload.
	reloadRepairs prometheus.Counter
	lastSync      prometheus.Gauge
	// callDur and callEntries describe every backend call by operation:
	// how long it took, and how many prefixes it was handed (what the
	// driver coalesced into it).
	callDur     *prometheus.HistogramVec
	callEntries *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer, d firewall.Description) *metrics {
	labels := prometheus.Labels{"backend": d.Backend}
	m := &metrics{
		up: prometheus.NewGauge(prometheus.GaugeOpts{
			Name:        "synguard_responder_backend_up",
			Help:        "Whether the firewall backend answered the responder's last call (1) or not (0), by backend and its mode.",
			ConstLabels: prometheus.Labels{"backend": d.Backend, "mode": d.Mode},
		}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name:        "synguard_responder_backend_errors_total",
			Help:        "Failed calls of the firewall backend, by operation (prepare, add, remove, sync); each is retried with backoff.",
			ConstLabels: labels,
		}, []string{"op"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name:        "synguard_responder_backend_refused_total",
			Help:        "Prefixes the firewall backend refused while applying the others (firewalld's ZONE_CONFLICT, say), by operation.",
			ConstLabels: labels,
		}, []string{"op"}),
		repairs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "synguard_responder_reconcile_repairs_total",
			Help: "Entries a reconcile had to add to or remove from the firewall because they had been lost or left behind (a reload, a restart, someone else's change).",
		}),
		reloadRepairs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "synguard_responder_reconcile_reload_repairs_total",
			Help: "The part of synguard_responder_reconcile_repairs_total made by the reconcile after a firewall reload or restart the backend reported: expected, not drift.",
		}),
		lastSync: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "synguard_responder_last_reconcile_success_timestamp_seconds",
			Help: "When the firewall last matched the desired state after a full reconcile.",
		}),
		callDur: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:        "synguard_responder_backend_call_duration_seconds",
			Help:        "Calls of the firewall backend, by operation (prepare, add, remove, sync), failed ones included.",
			ConstLabels: labels,
			Buckets:     []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"op"}),
		callEntries: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:        "synguard_responder_backend_call_entries",
			Help:        "Prefixes handed to one call of the firewall backend, by operation (add, remove, sync): the work queued since the last call, coalesced into one.",
			ConstLabels: labels,
			Buckets:     []float64{1, 4, 16, 64, 256, 1024, 4096, 16384},
		}, []string{"op"}),
	}
	for _, op := range []string{opPrepare, opAdd, opRemove, opSync} {
		m.errors.WithLabelValues(op)
		m.callDur.WithLabelValues(op)
	}
	for _, op := range []string{opAdd, opRemove, opSync} {
		m.refused.WithLabelValues(op)
		m.callEntries.WithLabelValues(op)
	}
	reg.MustRegister(m.up, m.errors, m.refused, m.repairs, m.reloadRepairs, m.lastSync, m.callDur, m.callEntries)
	return m
}
