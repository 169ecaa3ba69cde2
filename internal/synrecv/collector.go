package synrecv

import (
	"net/netip"
	"strconv"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/synguard/synguard/internal/origin"
	"github.com/synguard/synguard/internal/prefix"
)

// OriginLookup tells who a prefix belongs to (an *origin.Source).
type OriginLookup interface {
	// Enabled is false while no database is configured: no origin series.
	Enabled() bool
	Lookup(p netip.Prefix) origin.Info
}

// OtherPrefix is the prefix label of the series that sums the prefixes
// beyond the top N.
const OtherPrefix = "other"

var familyLabel = [2]string{prefix.FamilyIPv4, prefix.FamilyIPv6}

// Collector publishes a Source's SYN_RECV sockets, aggregated, as const
// metrics built at each scrape, so a prefix that went away leaves no stale
// series. Concurrent scrapes take turns.
type Collector struct {
	mu  sync.Mutex
	src Source
	agg *Aggregator
	add func(Socket)
	// origin, when set, labels each prefix with its own series with its AS
	// and country: the runbook's whois step, done at scrape time for the
	// top N prefixes only, so its cost does not grow with the sockets.
	origin OriginLookup

	sockets, prefixes, sources, excluded, portSockets, originInfo *prometheus.Desc
}

// NewCollector returns a Collector reading src with the options o.
func NewCollector(src Source, o Options) *Collector {
	c := &Collector{
		src: src,
		agg: NewAggregator(o),
		sockets: prometheus.NewDesc("synguard_syn_recv_sockets",
			"TCP sockets in SYN_RECV by source prefix; prefix=\"other\" sums the prefixes beyond the top N.",
			[]string{"family", "prefix"}, nil),
		prefixes: prometheus.NewDesc("synguard_syn_recv_prefixes",
			"Distinct source prefixes with TCP sockets in SYN_RECV (loopback and allowlisted sources excluded).",
			[]string{"family"}, nil),
		sources: prometheus.NewDesc("synguard_syn_recv_sources",
			"Distinct source addresses with TCP sockets in SYN_RECV (loopback and allowlisted sources excluded).",
			[]string{"family"}, nil),
		excluded: prometheus.NewDesc("synguard_syn_recv_excluded_sockets",
			"TCP sockets in SYN_RECV from loopback and allowlisted sources, not counted by prefix.",
			[]string{"family"}, nil),
		portSockets: prometheus.NewDesc("synguard_syn_recv_port_sockets",
			"TCP sockets in SYN_RECV per listening local port, all sources.",
			[]string{"port"}, nil),
		originInfo: prometheus.NewDesc("synguard_syn_recv_prefix_origin_info",
			"Origin of each prefix that has its own synguard_syn_recv_sockets series, from the configured AS and country databases; empty labels mean unknown. Always 1.",
			[]string{"family", "prefix", "asn", "as_org", "country"}, nil),
	}
	c.add = c.agg.Add
	return c
}

// SetOptions changes the aggregation options from the next scrape on.
func (c *Collector) SetOptions(o Options) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.agg.SetOptions(o)
}

// SetOrigin sets (or, with nil, clears) the origin lookup from the next
// scrape on.
func (c *Collector) SetOrigin(l OriginLookup) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.origin = l
}

// Close closes the source.
func (c *Collector) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.src.Close()
}

// Update reads the sockets and sends the metrics. On a source error it
// sends nothing, so that a partial read never shows as a drop in a prefix.
func (c *Collector) Update(ch chan<- prometheus.Metric) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.agg.Reset()
	if err := c.src.Sockets(c.add); err != nil {
		c.agg.Reset()
		return err
	}
	res := c.agg.Result()
	withOrigin := c.origin != nil && c.origin.Enabled()
	for f, fr := range res.Family {
		fam := familyLabel[f]
		for _, pc := range fr.Top {
			ch <- prometheus.MustNewConstMetric(c.sockets, prometheus.GaugeValue, float64(pc.Count), fam, pc.Prefix.String())
			if withOrigin {
				o := c.origin.Lookup(pc.Prefix)
				ch <- prometheus.MustNewConstMetric(c.originInfo, prometheus.GaugeValue, 1, fam, pc.Prefix.String(), o.ASNLabel(), o.ASOrg, o.Country)
			}
		}
		ch <- prometheus.MustNewConstMetric(c.sockets, prometheus.GaugeValue, float64(fr.Other), fam, OtherPrefix)
		ch <- prometheus.MustNewConstMetric(c.prefixes, prometheus.GaugeValue, float64(fr.Prefixes), fam)
		ch <- prometheus.MustNewConstMetric(c.sources, prometheus.GaugeValue, float64(fr.Sources), fam)
		ch <- prometheus.MustNewConstMetric(c.excluded, prometheus.GaugeValue, float64(fr.Excluded), fam)
	}
	for _, pc := range res.Ports {
		ch <- prometheus.MustNewConstMetric(c.portSockets, prometheus.GaugeValue, float64(pc.Count), strconv.Itoa(int(pc.Port)))
	}
	return nil
}
