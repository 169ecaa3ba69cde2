package probe

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metric names; part of synguard's metric contract.
const (
	MetricSuccess     = "synguard_probe_success"
	MetricDuration    = "synguard_probe_duration_seconds"
	MetricPhase       = "synguard_probe_phase_duration_seconds"
	MetricLastRun     = "synguard_probe_last_run_timestamp_seconds"
	MetricCertExpiry  = "synguard_probe_tls_cert_expiry_timestamp_seconds"
	MetricInterval    = "synguard_probe_interval_seconds"
	MetricRuns        = "synguard_probe_runs_total"
	MetricFailures    = "synguard_probe_failures_total"
	MetricInFlight    = "synguard_probe_in_flight"
	MetricTargetCount = "synguard_probe_targets"
)

type descs struct {
	success, duration, phase, lastRun, expiry, interval, runs, failures, inFlight, targets *prometheus.Desc
}

func newDescs() descs {
	l := []string{"module", "target"}
	return descs{
		success:  prometheus.NewDesc(MetricSuccess, "Whether the last probe of the target succeeded (1) or failed (0).", l, nil),
		duration: prometheus.NewDesc(MetricDuration, "How long the last probe of the target took.", l, nil),
		phase: prometheus.NewDesc(MetricPhase, "How long each phase of the last probe took (resolve, connect, tls, banner, dialogue, processing, transfer, echo).",
			[]string{"module", "target", "phase"}, nil),
		lastRun:  prometheus.NewDesc(MetricLastRun, "When the last probe of the target started, as a Unix time.", l, nil),
		expiry:   prometheus.NewDesc(MetricCertExpiry, "Earliest NotAfter in the certificate chain the last TLS probe saw, as a Unix time.", l, nil),
		interval: prometheus.NewDesc(MetricInterval, "Configured interval between probes of the target.", l, nil),
		runs:     prometheus.NewDesc(MetricRuns, "Probes of the target run since the exporter started.", l, nil),
		failures: prometheus.NewDesc(MetricFailures, "Probes of the target that failed since the exporter started; catches failures between scrapes.", l, nil),
		inFlight: prometheus.NewDesc(MetricInFlight, "Probes running right now.", nil, nil),
		targets:  prometheus.NewDesc(MetricTargetCount, "Targets the scheduler probes in the background.", nil, nil),
	}
}

func (d descs) describe(ch chan<- *prometheus.Desc) {
	for _, x := range []*prometheus.Desc{d.success, d.duration, d.phase, d.lastRun, d.expiry, d.interval, d.runs, d.failures, d.inFlight, d.targets} {
		ch <- x
	}
}

// emit sends the metrics of the scheduler's last results. A target not yet
// probed has no series rather than a made-up 0.
func (d descs) emit(ch chan<- prometheus.Metric, s *Scheduler) {
	var targets int
	var stats Stats
	if s != nil {
		targets, stats = len(s.cfg.Targets), s.Stats()
		for _, st := range s.States() {
			r := st.Last
			lv := []string{r.Module, r.Target}
			ok := 0.0
			if r.Success {
				ok = 1
			}
			ch <- prometheus.MustNewConstMetric(d.success, prometheus.GaugeValue, ok, lv...)
			ch <- prometheus.MustNewConstMetric(d.duration, prometheus.GaugeValue, r.Duration.Seconds(), lv...)
			for _, p := range r.Phases {
				ch <- prometheus.MustNewConstMetric(d.phase, prometheus.GaugeValue, p.Duration.Seconds(), r.Module, r.Target, p.Phase)
			}
			ch <- prometheus.MustNewConstMetric(d.lastRun, prometheus.GaugeValue, float64(r.Start.UnixNano())/1e9, lv...)
			if !r.CertExpiry.IsZero() {
				ch <- prometheus.MustNewConstMetric(d.expiry, prometheus.GaugeValue, float64(r.CertExpiry.Unix()), lv...)
			}
			ch <- prometheus.MustNewConstMetric(d.interval, prometheus.GaugeValue, st.Interval.Seconds(), lv...)
			ch <- prometheus.MustNewConstMetric(d.runs, prometheus.CounterValue, float64(st.Runs), lv...)
			ch <- prometheus.MustNewConstMetric(d.failures, prometheus.CounterValue, float64(st.Failures), lv...)
		}
	}
	ch <- prometheus.MustNewConstMetric(d.inFlight, prometheus.GaugeValue, float64(stats.InFlight))
	ch <- prometheus.MustNewConstMetric(d.targets, prometheus.GaugeValue, float64(targets))
}
