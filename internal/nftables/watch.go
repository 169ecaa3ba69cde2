package nftables

import (
	"context"
	"fmt"
	"os"
	"time"

	nft "github.com/google/nftables"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/synguard/synguard/internal/firewall"
)

// Watch implements firewall.Backend. It listens to nftables' netlink
// monitor and sends firewall.Reloaded once per batch (generation) of
// another process that deleted synguard's table or one of its sets or
// chains: nft flush ruleset, systemctl restart nftables (a flush and a
// load), nft delete table. Batches of this process are its own. When the
// monitor breaks (the kernel drops events on a full socket), it
// resubscribes and sends Reloaded, since events may have been lost. The
// driver's periodic Sync is the backstop for anything else.
func (b *Backend) Watch(ctx context.Context, notify func(firewall.Event)) error {
	resubscribed := false
	for attempt := 0; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		err := b.watchOnce(ctx, notify, resubscribed)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		b.log.Warn("nftables: monitor broke, resubscribing", "err", err)
		resubscribed = true
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(min(time.Duration(attempt+1)*200*time.Millisecond, 5*time.Second)):
		}
	}
}

// watchOnce runs one subscription until it breaks or ctx ends.
func (b *Backend) watchOnce(ctx context.Context, notify func(firewall.Event), resubscribed bool) error {
	var opts []nft.ConnOption
	if b.nsFd >= 0 {
		opts = append(opts, nft.WithNetNSFd(b.nsFd))
	}
	c, err := nft.New(opts...)
	if err != nil {
		return fmt.Errorf("open netlink: %w", err)
	}
	mon := nft.NewMonitor(nft.WithMonitorEventBuffer(64))
	evs, err := c.AddGenerationalMonitor(mon)
	if err != nil {
		return fmt.Errorf("subscribe to nftables events: %w", err)
	}
	defer mon.Close()
	if resubscribed {
		notify(firewall.Event{Kind: firewall.Reloaded, Time: time.Now(), Detail: "nftables monitor resubscribed"})
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case gen, ok := <-evs:
			if !ok {
				return fmt.Errorf("monitor closed")
			}
			if gen.GeneratedBy != nil && gen.GeneratedBy.Type == nft.MonitorEventTypeOOB {
				return fmt.Errorf("monitor: %v", gen.GeneratedBy.Error)
			}
			if what := b.touched(gen); what != "" {
				notify(firewall.Event{Kind: firewall.Reloaded, Time: time.Now(), Detail: what})
			}
		}
	}
}

// touched says what of synguard's table a generation deleted, and by which
// process; "" when it deleted nothing of it or was this process's own.
func (b *Backend) touched(gen *nft.MonitorEvents) string {
	by := "another process"
	if gen.GeneratedBy != nil {
		if g, ok := gen.GeneratedBy.Data.(*nft.GenMsg); ok {
			// The kernel names the thread that committed the batch.
			if _, err := os.Stat(fmt.Sprintf("/proc/self/task/%d", g.ProcPID)); err == nil {
				return ""
			}
			by = fmt.Sprintf("%s (pid %d)", g.ProcComm, g.ProcPID)
		}
	}
	for _, ev := range gen.Changes {
		var what string
		switch d := ev.Data.(type) {
		case *nft.Table:
			if ev.Type == nft.MonitorEventTypeDelTable && d.Name == b.cfg.Table && d.Family == nft.TableFamilyINet {
				what = "table inet " + d.Name
			}
		case *nft.Set:
			if ev.Type == nft.MonitorEventTypeDelSet && d.Table != nil && d.Table.Name == b.cfg.Table {
				what = "set " + d.Name
			}
		case *nft.Chain:
			if ev.Type == nft.MonitorEventTypeDelChain && d.Table != nil && d.Table.Name == b.cfg.Table {
				what = "chain " + d.Name
			}
		}
		if what != "" {
			return "nftables monitor: " + what + " deleted by " + by
		}
	}
	return ""
}

// Collector exports the drop counters of synguard's rules, read from the
// kernel at each scrape, as
// synguard_responder_nftables_dropped_packets_total{family,hook}: hook
// "prerouting" counts flood SYNs dropped before conntrack, "input" the
// other new traffic dropped after it.
func (b *Backend) Collector() prometheus.Collector { return collector{b} }

type collector struct{ b *Backend }

var droppedDesc = prometheus.NewDesc("synguard_responder_nftables_dropped_packets_total",
	"Packets dropped by synguard's nftables rules, by address family and hook (prerouting: SYNs before conntrack; input: other new traffic).",
	[]string{"family", "hook"}, nil)

// Describe implements prometheus.Collector.
func (c collector) Describe(ch chan<- *prometheus.Desc) { ch <- droppedDesc }

// Collect implements prometheus.Collector. A table that is not there (yet,
// or flushed) exports nothing rather than a reset to zero.
func (c collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	counts, err := c.b.DroppedPackets(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(droppedDesc, err)
		return
	}
	for _, d := range counts {
		ch <- prometheus.MustNewConstMetric(droppedDesc, prometheus.CounterValue, float64(d.Packets), d.Family, d.Hook)
	}
}

// Dropped is one rule's drop counter.
type Dropped struct {
	Family, Hook string
	Packets      uint64
}

// DroppedPackets reads the rules' counters; none when the table is gone.
func (b *Backend) DroppedPackets(ctx context.Context) ([]Dropped, error) {
	c, err := b.conn(ctx)
	if err != nil {
		return nil, err
	}
	if there, err := b.tableThere(c); err != nil || !there {
		return nil, err
	}
	counts, err := counters(c, b.obj)
	if err != nil {
		return nil, err
	}
	out := make([]Dropped, len(counts))
	for i, d := range counts {
		out[i] = Dropped{Family: d.family, Hook: d.hook, Packets: d.packets}
	}
	return out, nil
}
