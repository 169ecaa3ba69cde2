package conntrack_test

import (
	"context"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"
	"github.com/mdlayher/netlink"
	ct "github.com/ti-mo/conntrack"

	"github.com/synguard/synguard/internal/conntrack"
	"github.com/synguard/synguard/internal/firewall"
	"github.com/synguard/synguard/internal/firewalld"
)

// BenchmarkFlood times the conntrack cut and the firewalld call it follows
// while a SYN flood fills the conntrack table: test/bench/firewalld.sh
// starts a real firewalld in the victim namespace of a flood lab
// (test/lab/synflood.sh) and names it in SGF_BENCH_BUS (its private bus)
// and SGF_BENCH_NETNS (/run/netns/NAME). Each step runs once per b.N and
// reports its figures as metrics; run it with -benchtime=1x.
//
//	table-entries, assured-entries  the flood's conntrack table
//	dump-all-ms       reading the whole table (the cut before the fix)
//	dump-assured-ms   reading the assured entries only (the kernel filters)
//	cut-ms            conntrack.Cutter.Cut of the flooding /24 now
//	add-ms            a firewalld ipset Add of one new prefix alone
//	add-then-cut-ms   Add, then the cut as it was (whole table): the call
//	                  the driver waited for before the fix
//	withcut-add-ms    firewall.WithCut's Add now: the cut runs after it
func BenchmarkFlood(b *testing.B) {
	bus, ns := os.Getenv("SGF_BENCH_BUS"), os.Getenv("SGF_BENCH_NETNS")
	if bus == "" || ns == "" {
		b.Skip("SGF_BENCH_BUS and SGF_BENCH_NETNS unset: run test/bench/firewalld.sh")
	}
	conn, err := dbus.Connect(bus)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	c, err := firewalld.New(conn, firewalld.Config{Mode: firewalld.ModeIPSet, AllowReload: true}, nil)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if err := c.Prepare(ctx, nil); err != nil {
		b.Fatal(err)
	}
	cutter := conntrack.Cutter{Netns: ns}
	flood := netip.MustParsePrefix("198.51.100.0/24")
	withCut := firewall.WithCut(c, cutter.Cut, nil)
	var m struct{ entries, assured, dumpAll, dumpAssured, cut, add, addThenCut, withCutAdd float64 }
	next := 0
	newEntry := func() []firewall.Entry {
		next++
		return []firewall.Entry{{Prefix: netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 18, byte(next / 32), byte(next % 32 * 8)}), 29)}}
	}
	for range b.N {
		tc := dial(b, ns)
		t0 := time.Now()
		all, err := tc.Dump(nil)
		m.dumpAll += ms(time.Since(t0))
		if err != nil {
			b.Fatal(err)
		}
		m.entries += float64(len(all))
		t0 = time.Now()
		assured, err := tc.DumpFilter(ct.NewFilter().Status(ct.StatusAssured), nil)
		m.dumpAssured += ms(time.Since(t0))
		if err != nil {
			b.Fatal(err)
		}
		m.assured += float64(len(assured))
		tc.Close()

		t0 = time.Now()
		if _, err := cutter.Cut([]netip.Prefix{flood}); err != nil {
			b.Fatal(err)
		}
		m.cut += ms(time.Since(t0))

		t0 = time.Now()
		if _, err := c.Add(ctx, newEntry()); err != nil {
			b.Fatal(err)
		}
		m.add += ms(time.Since(t0))

		t0 = time.Now()
		if _, err := c.Add(ctx, newEntry()); err != nil {
			b.Fatal(err)
		}
		tc = dial(b, ns)
		if _, err := tc.Dump(nil); err != nil {
			b.Fatal(err)
		}
		tc.Close()
		m.addThenCut += ms(time.Since(t0))

		t0 = time.Now()
		if _, err := withCut.Add(ctx, newEntry()); err != nil {
			b.Fatal(err)
		}
		m.withCutAdd += ms(time.Since(t0))
		// Let the background cut end before the next round.
		time.Sleep(time.Duration(m.cut/float64(b.N)+50) * time.Millisecond)
	}
	n := float64(b.N)
	b.ReportMetric(m.entries/n, "table-entries")
	b.ReportMetric(m.assured/n, "assured-entries")
	b.ReportMetric(m.dumpAll/n, "dump-all-ms")
	b.ReportMetric(m.dumpAssured/n, "dump-assured-ms")
	b.ReportMetric(m.cut/n, "cut-ms")
	b.ReportMetric(m.add/n, "add-ms")
	b.ReportMetric(m.addThenCut/n, "add-then-cut-ms")
	b.ReportMetric(m.withCutAdd/n, "withcut-add-ms")
}

// dial opens a conntrack netlink socket in the network namespace at ns.
func dial(b *testing.B, ns string) *ct.Conn {
	b.Helper()
	f, err := os.Open(ns)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	c, err := ct.Dial(&netlink.Config{NetNS: int(f.Fd())})
	if err != nil {
		b.Fatal(err)
	}
	return c
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
