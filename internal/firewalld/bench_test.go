package firewalld_test

import (
	"context"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/synguard/synguard/internal/firewalld"
)

// The backend benchmarks run against a real firewalld that
// test/bench/firewalld.sh starts in a lab namespace and names in
// SGF_BENCH_BUS (its private bus) and SGF_BENCH_NETNS (/run/netns/NAME).
// Each scenario runs once per b.N and reports its steps as metrics; run
// them with -benchtime=1x.

func benchClient(b *testing.B, cfg firewalld.Config) (*firewalld.Client, *dbus.Conn) {
	b.Helper()
	bus, ns := os.Getenv("SGF_BENCH_BUS"), os.Getenv("SGF_BENCH_NETNS")
	if bus == "" || ns == "" {
		b.Skip("SGF_BENCH_BUS and SGF_BENCH_NETNS unset: run test/bench/firewalld.sh")
	}
	conn, err := dbus.Connect(bus)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { conn.Close() })
	cfg.ConntrackNetns = ns
	cfg.AllowReload = true
	c, err := firewalld.New(conn, cfg, nil)
	if err != nil {
		b.Fatal(err)
	}
	if err := c.Setup(context.Background()); err != nil {
		b.Fatal(err)
	}
	return c, conn
}

// BenchPrefixes returns n /29s of 198.18.0.0/15 (16,384 of them), a range
// that carries no traffic; test/bench/firewalld.sh samples the same list.
func benchPrefixes(n int) []netip.Prefix {
	out := make([]netip.Prefix, 0, n)
	for i := 0; i < n; i++ {
		blk := i / 32
		out = append(out, netip.PrefixFrom(netip.AddrFrom4([4]byte{198, byte(18 + blk/256), byte(blk % 256), byte(i % 32 * 8)}), 29))
	}
	return out
}

func reloadFirewalld(b *testing.B, conn *dbus.Conn) {
	b.Helper()
	if err := conn.Object(firewalld.BusName, firewalld.ObjectPath).Call(firewalld.Interface+".reload", 0).Err; err != nil {
		b.Fatalf("reload: %v", err)
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// timed runs fn and returns its duration, failing the benchmark on error.
func timed(b *testing.B, what string, fn func() error) time.Duration {
	b.Helper()
	t0 := time.Now()
	if err := fn(); err != nil {
		b.Fatalf("%s: %v", what, err)
	}
	return time.Since(t0)
}

// BenchmarkIPSet: Add of 1,000 and 10,000 prefixes as one batch each, one
// more block with 10,000 present, Sync restoring 10,000 after a reload, a
// Sync with nothing to repair at 10,000, and 10,000 again as 1,000 Adds of
// 10 from 50 goroutines (a webhook's notifications).
func BenchmarkIPSet(b *testing.B) {
	c, conn := benchClient(b, firewalld.Config{Mode: firewalld.ModeIPSet})
	ctx := context.Background()
	all := benchPrefixes(10001)
	ps1k, ps10k, extra := all[:1000], all[:10000], all[10000:]
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		clearAll := func() error { _, _, err := c.Sync(ctx, nil, all); return err }
		timed(b, "clear", clearAll)
		b.StartTimer()
		d1k := timed(b, "add 1000", func() error { return c.Add(ctx, ps1k) })
		b.StopTimer()
		timed(b, "clear", clearAll)
		b.StartTimer()
		d10k := timed(b, "add 10000", func() error { return c.Add(ctx, ps10k) })
		one := timed(b, "add one at 10000", func() error { return c.Add(ctx, extra) })
		b.StopTimer()
		timed(b, "remove one", func() error { return c.Remove(ctx, extra) })
		reloadFirewalld(b, conn)
		b.StartTimer()
		var added int
		restore := timed(b, "restore 10000", func() error {
			var err error
			added, _, err = c.Sync(ctx, ps10k, ps10k)
			return err
		})
		if added != 10000 {
			b.Fatalf("restore added %d, want 10000", added)
		}
		noop := timed(b, "sync in step", func() error { _, _, err := c.Sync(ctx, ps10k, ps10k); return err })
		b.StopTimer()
		timed(b, "clear", clearAll)
		b.StartTimer()
		conc := timed(b, "add 10000 concurrently", func() error { return concurrentAdds(ctx, c, ps10k, 10, 50) })
		b.StopTimer()
		b.ReportMetric(ms(conc), "add10000conc-ms")
		b.ReportMetric(ms(conc)/10000, "add10000conc-ms/prefix")
		b.ReportMetric(ms(d1k), "add1000-ms")
		b.ReportMetric(ms(d1k)/1000, "add1000-ms/prefix")
		b.ReportMetric(ms(d10k), "add10000-ms")
		b.ReportMetric(ms(d10k)/10000, "add10000-ms/prefix")
		b.ReportMetric(ms(one), "add1at10000-ms")
		b.ReportMetric(ms(restore), "restore10000-ms")
		b.ReportMetric(ms(noop), "sync10000noop-ms")
		timed(b, "clear", clearAll)
	}
}

// concurrentAdds adds ps in groups of size from workers goroutines, as a
// webhook handing each notification's alerts to Add would.
func concurrentAdds(ctx context.Context, c *firewalld.Client, ps []netip.Prefix, size, workers int) error {
	groups := make(chan []netip.Prefix)
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		go func() {
			var first error
			for g := range groups {
				if err := c.Add(ctx, g); err != nil && first == nil {
					first = err
				}
			}
			errs <- first
		}()
	}
	for i := 0; i < len(ps); i += size {
		groups <- ps[i:min(i+size, len(ps))]
	}
	close(groups)
	var first error
	for w := 0; w < workers; w++ {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}

// BenchmarkZone: Add of 1,000 prefixes as zone sources (one batch), one
// more with 1,000 present, Sync restoring 1,000 after a reload.
func BenchmarkZone(b *testing.B) {
	c, conn := benchClient(b, firewalld.Config{Mode: firewalld.ModeZone})
	ctx := context.Background()
	all := benchPrefixes(1001)
	ps, extra := all[:1000], all[1000:]
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		timed(b, "clear", func() error { return c.Remove(ctx, all) })
		b.StartTimer()
		d := timed(b, "add 1000", func() error { return c.Add(ctx, ps) })
		one := timed(b, "add one at 1000", func() error { return c.Add(ctx, extra) })
		b.StopTimer()
		timed(b, "remove one", func() error { return c.Remove(ctx, extra) })
		reloadFirewalld(b, conn)
		b.StartTimer()
		restore := timed(b, "restore 1000", func() error { _, _, err := c.Sync(ctx, ps, ps); return err })
		noop := timed(b, "sync in step", func() error { _, _, err := c.Sync(ctx, ps, ps); return err })
		b.StopTimer()
		b.ReportMetric(ms(d), "add1000-ms")
		b.ReportMetric(ms(d)/1000, "add1000-ms/prefix")
		b.ReportMetric(ms(one), "add1at1000-ms")
		b.ReportMetric(ms(restore), "restore1000-ms")
		b.ReportMetric(ms(noop), "sync1000noop-ms")
		timed(b, "clear", func() error { return c.Remove(ctx, all) })
	}
}
