package firewalld

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// Causes of a reload the Client asks for: label values of
// synguard_responder_firewalld_reloads_total.
const (
	// ReloadIPSets loads ipsets that exist only in the permanent config
	// (created by the Client, or left by an earlier run).
	ReloadIPSets = "load_ipsets"
	// ReloadRestart clears the stale kernel rules a crashed firewalld left
	// (zone mode, after a restart).
	ReloadRestart = "restart"
)

// reloads bounds the Client's reloads to one per cause for each firewalld
// instance (its unique bus name): a reload that did not help (firewalld
// 0.9 without the ipset tool never loads a hash:net set) is not repeated
// every retry, so firewalld is never reloaded in a loop. A new instance
// may be reloaded once again for each cause.
type reloads struct {
	mu    sync.Mutex
	done  map[string]string // cause -> the owner it was tried on
	total map[string]float64
}

// allow reports whether a reload for cause may go to the firewalld owned
// by owner, and takes the cause's one chance for it.
func (r *reloads) allow(owner, cause string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.done == nil {
		r.done = map[string]string{}
	}
	if tried, ok := r.done[cause]; ok && tried == owner && owner != "" {
		return false
	}
	r.done[cause] = owner
	return true
}

func (r *reloads) count(cause string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.total == nil {
		r.total = map[string]float64{}
	}
	r.total[cause]++
}

var reloadsDesc = prometheus.NewDesc("synguard_responder_firewalld_reloads_total",
	"Reloads of firewalld the responder asked for, by cause (load_ipsets, restart); at most one per cause for each firewalld instance.",
	[]string{"cause"}, nil)

// Collector returns the Client's metrics: its reloads of firewalld.
func (c *Client) Collector() prometheus.Collector { return reloadsCollector{c} }

type reloadsCollector struct{ c *Client }

// Describe implements prometheus.Collector.
func (rc reloadsCollector) Describe(ch chan<- *prometheus.Desc) { ch <- reloadsDesc }

// Collect implements prometheus.Collector.
func (rc reloadsCollector) Collect(ch chan<- prometheus.Metric) {
	r := &rc.c.reloads
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, cause := range []string{ReloadIPSets, ReloadRestart} {
		ch <- prometheus.MustNewConstMetric(reloadsDesc, prometheus.CounterValue, r.total[cause], cause)
	}
}
