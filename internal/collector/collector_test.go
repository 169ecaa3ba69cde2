package collector

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

type fakeCollector struct {
	desc *prometheus.Desc
	err  error
}

func (f fakeCollector) Update(ch chan<- prometheus.Metric) error {
	if f.err != nil {
		return f.err
	}
	ch <- prometheus.MustNewConstMetric(f.desc, prometheus.GaugeValue, 42)
	return nil
}

func TestSet(t *testing.T) {
	var logs bytes.Buffer
	s := NewSet(slog.New(slog.NewTextHandler(&logs, nil)))
	s.Add("good", fakeCollector{desc: prometheus.NewDesc("test_good", "A good value.", nil, nil)})
	s.Add("bad", fakeCollector{err: errors.New("read /proc/net/tcp6: no such file or directory")})
	reg := prometheus.NewRegistry()
	reg.MustRegister(s)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			key := mf.GetName()
			for _, l := range m.GetLabel() {
				key += "/" + l.GetValue()
			}
			got[key] = m.GetGauge().GetValue()
		}
	}
	for key, want := range map[string]float64{
		"synguard_scrape_collector_success/bad":  0,
		"synguard_scrape_collector_success/good": 1,
		"test_good":                              42,
	} {
		if v, ok := got[key]; !ok || v != want {
			t.Errorf("%s = %v (present %v), want %v", key, v, ok, want)
		}
	}
	if _, ok := got["synguard_scrape_collector_duration_seconds/bad"]; !ok {
		t.Error("no duration for the failed collector")
	}
	if l := logs.String(); !strings.Contains(l, "collector=bad") || !strings.Contains(l, "tcp6: no such file") {
		t.Errorf("failure not logged clearly:\n%s", l)
	}
}
