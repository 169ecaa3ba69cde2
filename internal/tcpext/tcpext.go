package tcpext

import (
	"fmt"
	"path/filepath"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/procfs"
)

// Collector reads TcpExt counters through procfs at scrape time.
type Collector struct {
	fs       procfs.FS
	procPath string
	descs    []counter
}

type counter struct {
	desc *prometheus.Desc
	name string
	get  func(procfs.TcpExt) *float64
}

// New returns a Collector for the procfs mounted at procPath.
func New(procPath string) (*Collector, error) {
	fs, err := procfs.NewFS(procPath)
	if err != nil {
		return nil, fmt.Errorf("open procfs at %s: %w", procPath, err)
	}
	return &Collector{
		fs:       fs,
		procPath: procPath,
		descs: []counter{
			{prometheus.NewDesc("synguard_tcp_syncookies_sent_total",
				"SYN cookies sent because a listen queue was full (TcpExt SyncookiesSent).", nil, nil),
				"SyncookiesSent", func(t procfs.TcpExt) *float64 { return t.SyncookiesSent }},
			{prometheus.NewDesc("synguard_tcp_listen_overflows_total",
				"Times an accept queue was full when a connection completed (TcpExt ListenOverflows).", nil, nil),
				"ListenOverflows", func(t procfs.TcpExt) *float64 { return t.ListenOverflows }},
			{prometheus.NewDesc("synguard_tcp_listen_drops_total",
				"SYNs and completed connections dropped by listeners (TcpExt ListenDrops).", nil, nil),
				"ListenDrops", func(t procfs.TcpExt) *float64 { return t.ListenDrops }},
		},
	}, nil
}

// Update implements collector.Collector. /proc/net is a link to
// /proc/self/net, so the counters are those of the exporter's namespace.
func (c *Collector) Update(ch chan<- prometheus.Metric) error {
	file := filepath.Join(c.procPath, "self", "net", "netstat")
	p, err := c.fs.Self()
	if err != nil {
		return fmt.Errorf("read %s: %w", file, err)
	}
	ns, err := p.Netstat()
	if err != nil {
		return fmt.Errorf("read %s: %w", file, err)
	}
	vals := make([]float64, len(c.descs))
	for i, d := range c.descs {
		v := d.get(ns.TcpExt)
		if v == nil {
			return fmt.Errorf("read %s: TcpExt %s missing", file, d.name)
		}
		vals[i] = *v
	}
	for i, d := range c.descs {
		ch <- prometheus.MustNewConstMetric(d.desc, prometheus.CounterValue, vals[i])
	}
	return nil
}
