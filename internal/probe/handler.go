package probe

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/expfmt"
	"gopkg.in/yaml.v3"
)

// scrapeTimeoutOffset leaves Prometheus time to receive the answer before its
// own scrape timeout.
const scrapeTimeoutOffset = 500 * time.Millisecond

// ServeHTTP serves /probe?module=NAME&target=TARGET as blackbox_exporter
// does, so its scrape jobs, alerts and dashboards apply unchanged: it runs
// one probe now, bounded by the module's timeout and by Prometheus's
// X-Prometheus-Scrape-Timeout-Seconds, and answers with that probe's
// metrics under blackbox's names (probe_success, probe_duration_seconds,
// probe_ssl_earliest_cert_expiry, ...; blackbox.go) from a registry of its
// own, without module or target labels: Prometheus's relabeling names the
// target. With debug=true it answers in text the probe's log, the metrics
// and the module, as blackbox does. The background probes' synguard_probe_*
// names are /metrics', not /probe's.
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
	debug := q.Get("debug") == "true"
	var logs bytes.Buffer
	if debug {
		// This probe's own log, at debug level, for the answer.
		p := *prober
		p.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		prober = &p
	}
	res := prober.Probe(ctx, modName, &mod, target)

	reg := prometheus.NewRegistry()
	registerBlackbox(reg, &mod, res)
	if !debug {
		promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP(w, r)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintf(w, "Logs for the probe:\n%s\n\n", logs.String())
	fmt.Fprintf(w, "Metrics that would have been returned:\n")
	if mfs, err := reg.Gather(); err == nil {
		for _, mf := range mfs {
			_, _ = expfmt.MetricFamilyToText(w, mf)
		}
	}
	fmt.Fprintf(w, "\n\nModule configuration:\n")
	if b, err := yaml.Marshal(moduleView(&mod)); err == nil {
		_, _ = w.Write(b)
	}
}

// moduleView is the module as its configuration reads, for debug output.
func moduleView(m *Module) map[string]any {
	v := map[string]any{"prober": m.Prober, "timeout": m.Timeout.Std().String()}
	if m.IPProtocol != "" {
		v["ip_protocol"] = m.IPProtocol
	}
	if m.TLS {
		v["tls"] = true
	}
	if m.StartTLS {
		v["starttls"] = true
	}
	if m.TLSConfig != (TLSConfig{}) {
		v["tls_config"] = m.TLSConfig
	}
	if m.Prober == ProberHTTP {
		h := map[string]any{"method": m.HTTP.Method, "follow_redirects": *m.HTTP.FollowRedirects}
		var codes []string
		for _, c := range m.HTTP.ValidStatusCodes {
			codes = append(codes, fmt.Sprintf("%d-%d", c.Min, c.Max))
		}
		h["valid_status_codes"] = codes
		if m.HTTP.BodyRegexp != nil {
			h["body_regexp"] = m.HTTP.BodyRegexp.String()
		}
		v["http"] = h
	}
	var steps []string
	for _, s := range m.steps {
		steps = append(steps, fmt.Sprintf("send %q expect %v starttls %v", redact(s.Send), s.Expect, s.StartTLS))
	}
	if len(steps) > 0 {
		v["dialogue"] = steps
	}
	return v
}
