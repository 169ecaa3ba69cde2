package reload

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Reloader serialises reloads triggered by SIGHUP, by HTTP or by Reload.
// It is an http.Handler for POST /-/reload and a prometheus.Collector of
// <prefix>_config_last_reload_successful and
// <prefix>_config_last_reload_success_timestamp_seconds.
type Reloader struct {
	logger *slog.Logger
	fn     func() error

	mu          sync.Mutex
	lastOK      bool
	lastSuccess time.Time

	okDesc, tsDesc *prometheus.Desc
}

// New returns a Reloader running fn. metricPrefix names its metrics, for
// example "synguard_exporter". The initial load is the caller's: call
// MarkLoaded after it succeeds so that the metrics start out right.
func New(logger *slog.Logger, metricPrefix string, fn func() error) *Reloader {
	return &Reloader{
		logger: logger,
		fn:     fn,
		okDesc: prometheus.NewDesc(metricPrefix+"_config_last_reload_successful",
			"Whether the last configuration reload attempt succeeded.", nil, nil),
		tsDesc: prometheus.NewDesc(metricPrefix+"_config_last_reload_success_timestamp_seconds",
			"Timestamp of the last successful configuration load.", nil, nil),
	}
}

// MarkLoaded records a successful load done outside Reload (the first one).
func (r *Reloader) MarkLoaded() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lastOK, r.lastSuccess = true, time.Now()
}

// Reload runs the reload function, logs the outcome and returns its error.
// Reloads never overlap.
func (r *Reloader) Reload(trigger string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	err := r.fn()
	r.lastOK = err == nil
	if err != nil {
		r.logger.Error("config reload failed, keeping the running configuration", "trigger", trigger, "err", err)
		return err
	}
	r.lastSuccess = time.Now()
	r.logger.Info("config reloaded", "trigger", trigger)
	return nil
}

// ServeHTTP answers POST (or PUT) with 200 after a good reload and 500 with
// the reason after a bad one; other methods get 405.
func (r *Reloader) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodPost && req.Method != http.MethodPut {
		w.Header().Set("Allow", "POST, PUT")
		http.Error(w, "reload needs POST or PUT", http.StatusMethodNotAllowed)
		return
	}
	// A web page in an operator's browser must not reload either binary
	// (a reload of a half-edited file, or one that undoes a fix).
	if err := http.NewCrossOriginProtection().Check(req); err != nil {
		http.Error(w, fmt.Sprintf("cross-origin request refused: %v", err), http.StatusForbidden)
		return
	}
	if err := r.Reload("http"); err != nil {
		http.Error(w, fmt.Sprintf("reload failed: %v", err), http.StatusInternalServerError)
		return
	}
	fmt.Fprintln(w, "config reloaded")
}

// WatchSignals reloads on every SIGHUP until ctx is done. It returns at
// once, with the signal handler already installed: a SIGHUP sent after it
// returns reloads instead of killing the process.
func (r *Reloader) WatchSignals(ctx context.Context) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		defer signal.Stop(hup)
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				_ = r.Reload("SIGHUP")
			}
		}
	}()
}

// Describe implements prometheus.Collector.
func (r *Reloader) Describe(ch chan<- *prometheus.Desc) {
	ch <- r.okDesc
	ch <- r.tsDesc
}

// Collect implements prometheus.Collector.
func (r *Reloader) Collect(ch chan<- prometheus.Metric) {
	r.mu.Lock()
	ok, ts := r.lastOK, r.lastSuccess
	r.mu.Unlock()
	v := 0.0
	if ok {
		v = 1
	}
	ch <- prometheus.MustNewConstMetric(r.okDesc, prometheus.GaugeValue, v)
	var t float64
	if !ts.IsZero() {
		t = float64(ts.UnixNano()) / 1e9
	}
	ch <- prometheus.MustNewConstMetric(r.tsDesc, prometheus.GaugeValue, t)
}
