package probe

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// scrapeTimeoutOffset leaves Prometheus time to receive the answer before its
// own scrape timeout.
const scrapeTimeoutOffset = 500 * time.Millisecond

// ServeHTTP serves /probe?module=NAME&target=TARGET in the style of
// blackbox_exporter: it runs one probe now, bounded by the module's timeout
// and by Prometheus's X-Prometheus-Scrape-Timeout-Seconds, and answers with
// that probe's metrics from a registry of its own (no module or target
// labels: Prometheus's relabeling names the target).
func (m *Manager) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	cfg, prober, _ := m.current()
	q := r.URL.Query()
	modName, target := q.Get("module"), q.Get("target")
	mod, ok := cfg.Modules[modName]
	if !ok {
		http.Error(w, fmt.Sprintf("unknown module %q", modName), http.StatusBadRequest)
		return
	}
	if target == "" {
		http.Error(w, "target parameter is missing", http.StatusBadRequest)
		return
	}
	if err := CheckTarget(mod.Prober, target); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if mod.Prober == ProberICMP && prober.ICMPErr != nil {
		http.Error(w, prober.ICMPErr.Error(), http.StatusInternalServerError)
		return
	}
	ctx := r.Context()
	if v := r.Header.Get("X-Prometheus-Scrape-Timeout-Seconds"); v != "" {
		if secs, err := strconv.ParseFloat(v, 64); err == nil && secs > 0 {
			budget := time.Duration(secs*float64(time.Second)) - scrapeTimeoutOffset
			if budget <= 0 {
				budget = time.Duration(secs * float64(time.Second))
			}
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, budget)
			defer cancel()
		}
	}
	res := prober.Probe(ctx, modName, &mod, target)

	reg := prometheus.NewRegistry()
	gauge := func(name, help string, v float64) {
		g := prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help})
		g.Set(v)
		reg.MustRegister(g)
	}
	ok1 := 0.0
	if res.Success {
		ok1 = 1
	}
	gauge(MetricSuccess, "Whether the probe succeeded (1) or failed (0).", ok1)
	gauge(MetricDuration, "How long the probe took.", res.Duration.Seconds())
	phases := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: MetricPhase, Help: "How long each phase of the probe took."}, []string{"phase"})
	for _, p := range res.Phases {
		phases.WithLabelValues(p.Phase).Set(p.Duration.Seconds())
	}
	reg.MustRegister(phases)
	if !res.CertExpiry.IsZero() {
		gauge(MetricCertExpiry, "Earliest NotAfter in the certificate chain, as a Unix time.", float64(res.CertExpiry.Unix()))
	}
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP(w, r)
}
