package firewalld_test

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/synguard/synguard/internal/firewall"
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
	_ = ns // the Client cuts no connections: firewall.WithCut does
	cfg.AllowReload = true
	c, err := firewalld.New(conn, cfg, nil)
	if err != nil {
		b.Fatal(err)
	}
	if err := c.Prepare(context.Background(), nil); err != nil {
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

// addAll adds ps and fails unless each is applied.
func addAll(ctx context.Context, c *firewalld.Client, ps []netip.Prefix) error {
	rs, err := c.Add(ctx, ents(ps))
	if err != nil {
		return err
	}
	if f := firewall.Failed(rs); len(f) > 0 {
		return fmt.Errorf("%d refused, first %v: %v", len(f), f[0].Prefix, f[0].Err)
	}
	return nil
}

func removeAll(ctx context.Context, c *firewalld.Client, ps []netip.Prefix) error {
	_, err := c.Remove(ctx, ps)
	return err
}

func syncAll(ctx context.Context, c *firewalld.Client, desired, owned []netip.Prefix) (int, error) {
	sr, err := c.Sync(ctx, ents(desired), owned)
	return sr.Added, err
}

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
// more block and ten more (an engine step's batch) with 10,000 present,
// Sync restoring 10,000 after a reload and a Sync with nothing to repair
// at 10,000.
func BenchmarkIPSet(b *testing.B) {
	c, conn := benchClient(b, firewalld.Config{Mode: firewalld.ModeIPSet})
	ctx := context.Background()
	all := benchPrefixes(10011)
	ps1k, ps10k, extra, ten := all[:1000], all[:10000], all[10000:10001], all[10001:]
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		clearAll := func() error { _, err := syncAll(ctx, c, nil, all); return err }
		timed(b, "clear", clearAll)
		b.StartTimer()
		d1k := timed(b, "add 1000", func() error { return addAll(ctx, c, ps1k) })
		b.StopTimer()
		timed(b, "clear", clearAll)
		b.StartTimer()
		d10k := timed(b, "add 10000", func() error { return addAll(ctx, c, ps10k) })
		one := timed(b, "add one at 10000", func() error { return addAll(ctx, c, extra) })
		d10 := timed(b, "add ten at 10001", func() error { return addAll(ctx, c, ten) })
		b.StopTimer()
		timed(b, "remove eleven", func() error { return removeAll(ctx, c, all[10000:]) })
		reloadFirewalld(b, conn)
		b.StartTimer()
		var added int
		restore := timed(b, "restore 10000", func() error {
			var err error
			added, err = syncAll(ctx, c, ps10k, ps10k)
			return err
		})
		if added != 10000 {
			b.Fatalf("restore added %d, want 10000", added)
		}
		noop := timed(b, "sync in step", func() error { _, err := syncAll(ctx, c, ps10k, ps10k); return err })
		b.StopTimer()
		b.ReportMetric(ms(d1k), "add1000-ms")
		b.ReportMetric(ms(d1k)/1000, "add1000-ms/prefix")
		b.ReportMetric(ms(d10k), "add10000-ms")
		b.ReportMetric(ms(d10k)/10000, "add10000-ms/prefix")
		b.ReportMetric(ms(one), "add1at10000-ms")
		b.ReportMetric(ms(d10), "add10at10000-ms")
		b.ReportMetric(ms(restore), "restore10000-ms")
		b.ReportMetric(ms(noop), "sync10000noop-ms")
		timed(b, "clear", clearAll)
	}
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
		timed(b, "clear", func() error { return removeAll(ctx, c, all) })
		b.StartTimer()
		d := timed(b, "add 1000", func() error { return addAll(ctx, c, ps) })
		one := timed(b, "add one at 1000", func() error { return addAll(ctx, c, extra) })
		b.StopTimer()
		timed(b, "remove one", func() error { return removeAll(ctx, c, extra) })
		reloadFirewalld(b, conn)
		b.StartTimer()
		restore := timed(b, "restore 1000", func() error { _, err := syncAll(ctx, c, ps, ps); return err })
		noop := timed(b, "sync in step", func() error { _, err := syncAll(ctx, c, ps, ps); return err })
		b.StopTimer()
		b.ReportMetric(ms(d), "add1000-ms")
		b.ReportMetric(ms(d)/1000, "add1000-ms/prefix")
		b.ReportMetric(ms(one), "add1at1000-ms")
		b.ReportMetric(ms(restore), "restore1000-ms")
		b.ReportMetric(ms(noop), "sync1000noop-ms")
		timed(b, "clear", func() error { return removeAll(ctx, c, all) })
	}
}
