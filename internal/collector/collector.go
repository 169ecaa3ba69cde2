package collector

import (
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Collector is one source of metrics, read at scrape time. Update sends
// const metrics to ch; on error the Set logs it and reports the collector's
// success as 0, keeping whatever it sent before failing.
type Collector interface {
	Update(ch chan<- prometheus.Metric) error
}

// Set is a prometheus.Collector that runs its named Collectors concurrently
// on each scrape. Add collectors before registering the Set.
type Set struct {
	logger     *slog.Logger
	names      []string
	collectors map[string]Collector
	duration   *prometheus.Desc
	success    *prometheus.Desc
}

// NewSet returns an empty Set that logs collector errors to logger.
func NewSet(logger *slog.Logger) *Set {
	return &Set{
		logger:     logger,
		collectors: map[string]Collector{},
		duration: prometheus.NewDesc("synguard_scrape_collector_duration_seconds",
			"Duration of a collector's scrape.", []string{"collector"}, nil),
		success: prometheus.NewDesc("synguard_scrape_collector_success",
			"Whether a collector succeeded (1) or failed (0) in this scrape.", []string{"collector"}, nil),
	}
}

// Add adds a collector under name (the collector label). A second Add with
// the same name replaces the first.
func (s *Set) Add(name string, c Collector) {
	if _, ok := s.collectors[name]; !ok {
		s.names = append(s.names, name)
		sort.Strings(s.names)
	}
	s.collectors[name] = c
}

// Names returns the names of the Set's collectors, sorted.
func (s *Set) Names() []string { return append([]string(nil), s.names...) }

// Subset returns a Set of the named collectors only, sharing them (and
// their state) with s; names s does not hold are left out. A scrape of the
// subset reports duration and success for its own collectors only.
func (s *Set) Subset(names []string) *Set {
	sub := &Set{logger: s.logger, collectors: map[string]Collector{}, duration: s.duration, success: s.success}
	for _, n := range names {
		if c, ok := s.collectors[n]; ok {
			sub.Add(n, c)
		}
	}
	return sub
}

// Describe implements prometheus.Collector. Only the Set's own descriptors
// are described: the collectors' metrics are const metrics whose label
// values are known only at scrape time (an unchecked collector).
func (s *Set) Describe(ch chan<- *prometheus.Desc) {
	ch <- s.duration
	ch <- s.success
}

// Collect implements prometheus.Collector.
func (s *Set) Collect(ch chan<- prometheus.Metric) {
	var wg sync.WaitGroup
	for _, name := range s.names {
		wg.Add(1)
		go func(name string, c Collector) {
			defer wg.Done()
			s.run(name, c, ch)
		}(name, s.collectors[name])
	}
	wg.Wait()
}

func (s *Set) run(name string, c Collector, ch chan<- prometheus.Metric) {
	start := time.Now()
	err := c.Update(ch)
	d := time.Since(start).Seconds()
	ok := 1.0
	if err != nil {
		ok = 0
		s.logger.Error("collector failed", "collector", name, "duration_seconds", d, "err", err)
	} else {
		s.logger.Debug("collector succeeded", "collector", name, "duration_seconds", d)
	}
	ch <- prometheus.MustNewConstMetric(s.duration, prometheus.GaugeValue, d, name)
	ch <- prometheus.MustNewConstMetric(s.success, prometheus.GaugeValue, ok, name)
}
