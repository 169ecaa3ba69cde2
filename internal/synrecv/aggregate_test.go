package synrecv

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/synguard/synguard/internal/prefix"
)

func syn(local string, port uint16, remote string) Socket {
	return Socket{State: StateSynRecv, LocalPort: port, Local: netip.MustParseAddr(local), Remote: netip.MustParseAddr(remote)}
}

func listen(local string, port uint16) Socket {
	return Socket{State: StateListen, LocalPort: port, Local: netip.MustParseAddr(local)}
}

// summary is a Result in strings, for readable diffs.
type summary struct {
	Top      [2][]string
	Other    [2]uint64
	Prefixes [2]int
	Sources  [2]int
	Excluded [2]uint64
	Ports    []string
}

func summarise(r *Result) summary {
	var s summary
	for f, fr := range r.Family {
		for _, pc := range fr.Top {
			s.Top[f] = append(s.Top[f], fmt.Sprintf("%s=%d", pc.Prefix, pc.Count))
		}
		s.Other[f], s.Prefixes[f], s.Sources[f], s.Excluded[f] = fr.Other, fr.Prefixes, fr.Sources, fr.Excluded
	}
	for _, pc := range r.Ports {
		s.Ports = append(s.Ports, fmt.Sprintf("%d=%d", pc.Port, pc.Count))
	}
	return s
}

func TestAggregator(t *testing.T) {
	base := []Socket{
		listen("0.0.0.0", 25), listen("::", 25), listen("0.0.0.0", 587), listen("127.0.0.1", 9817),
		// .31 and .32 sit on either side of a /27 boundary.
		syn("198.51.100.1", 25, "203.0.113.31"),
		syn("198.51.100.1", 25, "203.0.113.32"),
		syn("198.51.100.1", 25, "203.0.113.32"),
		syn("198.51.100.1", 587, "203.0.113.63"),
		syn("198.51.100.1", 25, "203.0.113.64"),
		// Mapped IPv4 counts as IPv4, in the same /27 as .32.
		syn("::ffff:198.51.100.1", 25, "::ffff:203.0.113.40"),
		syn("2001:db8::1", 25, "2001:db8:1::5"),
		syn("2001:db8::1", 25, "2001:db8:1:0:ffff::6"),
		syn("2001:db8::1", 25, "2001:db8:1:1::1"),
		// Loopback never counts; a SYN_RECV on a port nobody listens on
		// counts by prefix but gets no port series.
		syn("127.0.0.1", 25, "127.0.0.1"),
		syn("::1", 25, "::1"),
		syn("198.51.100.1", 8080, "192.0.2.9"),
		{State: 1, LocalPort: 25, Local: netip.MustParseAddr("198.51.100.1"), Remote: netip.MustParseAddr("192.0.2.1")},
	}
	tests := []struct {
		name string
		opts Options
		want summary
	}{
		{name: "defaults", opts: DefaultOptions(), want: summary{
			Top: [2][]string{
				{"203.0.113.32/27=4", "192.0.2.0/27=1", "203.0.113.0/27=1", "203.0.113.64/27=1"},
				{"2001:db8:1::/64=2", "2001:db8:1:1::/64=1"},
			},
			Prefixes: [2]int{4, 2}, Sources: [2]int{6, 3}, Excluded: [2]uint64{1, 1},
			Ports: []string{"25=10", "587=1", "9817=0"},
		}},
		{name: "top 2 overflows into other", opts: Options{Lengths: prefix.DefaultLengths, TopN: 2}, want: summary{
			Top: [2][]string{
				{"203.0.113.32/27=4", "192.0.2.0/27=1"},
				{"2001:db8:1::/64=2", "2001:db8:1:1::/64=1"},
			},
			Other:    [2]uint64{2, 0},
			Prefixes: [2]int{4, 2}, Sources: [2]int{6, 3}, Excluded: [2]uint64{1, 1},
			Ports: []string{"25=10", "587=1", "9817=0"},
		}},
		{name: "allowlist, other lengths, ports", opts: Options{
			Lengths: prefix.Lengths{IPv4: 24, IPv6: 48}, TopN: 5,
			Allow: prefix.NewSet(netip.MustParsePrefix("203.0.113.32/27")), Ports: []uint16{25, 9817},
		}, want: summary{
			Top: [2][]string{
				{"203.0.113.0/24=2"},
				{"2001:db8:1::/48=3"},
			},
			Prefixes: [2]int{1, 1}, Sources: [2]int{2, 3}, Excluded: [2]uint64{4, 1},
			Ports: []string{"25=10", "9817=0"},
		}},
	}
	a := NewAggregator(DefaultOptions())
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a.SetOptions(tt.opts)
			for round := 0; round < 2; round++ { // a reused Aggregator gives the same answer
				a.Reset()
				for _, s := range base {
					a.Add(s)
				}
				if diff := cmp.Diff(tt.want, summarise(a.Result())); diff != "" {
					t.Fatalf("round %d: unexpected result (-want +got):\n%s", round, diff)
				}
			}
		})
	}
}

// synthetic returns n SYN_RECV sockets from the given number of /27s, 32
// sources each, spread over ports 25 and 587, as netlink messages.
func synthetic(tb testing.TB, n, prefixes int) [][]byte {
	tb.Helper()
	var datagrams [][]byte
	var batch []byte
	for i := 0; i < n; i++ {
		p := i % prefixes
		host := (i / prefixes) % 32
		remote := fmt.Sprintf("198.18.%d.%d", p/8, (p%8)*32+host)
		port := uint16(25)
		if i%4 == 0 {
			port = 587
		}
		batch = append(batch, marshalDatagram(tb, []netlinkMessage{diagMessage(tb, StateSynRecv, "198.51.100.1", port, remote, uint16(i))})...)
		if len(batch) > 30000 {
			datagrams = append(datagrams, batch)
			batch = nil
		}
	}
	batch = append(batch, marshalDatagram(tb, []netlinkMessage{doneMessage()})...)
	return append(datagrams, batch)
}

// aggregateDatagrams runs the netlink receive path on prepared datagrams.
func aggregateDatagrams(a *Aggregator, add func(Socket), datagrams [][]byte, msgs []netlinkMessage) ([]netlinkMessage, error) {
	a.Reset()
	for _, d := range datagrams {
		var err error
		msgs, err = splitMessages(d, msgs)
		if err != nil {
			return msgs, err
		}
		if _, err := ParseMessages(msgs, add); err != nil {
			return msgs, err
		}
	}
	a.Result()
	return msgs, nil
}

func TestAggregateAllocationFree(t *testing.T) {
	for _, n := range []int{1000, 20000} {
		datagrams := synthetic(t, n, 6)
		a := NewAggregator(DefaultOptions())
		add := a.Add
		msgs := make([]netlinkMessage, 0, 512)
		msgs, _ = aggregateDatagrams(a, add, datagrams, msgs) // warm up the maps
		allocs := testing.AllocsPerRun(5, func() { msgs, _ = aggregateDatagrams(a, add, datagrams, msgs) })
		if allocs != 0 {
			t.Errorf("%d sockets: %v allocations per aggregation, want 0", n, allocs)
		}
		if got := a.res.Family[IPv4].Top[0].Count; got == 0 {
			t.Errorf("%d sockets: nothing counted", n)
		}
	}
}

// BenchmarkAggregate runs 1,000,000 synthetic sock_diag messages (one per
// socket, batched in datagrams as the kernel sends them) through the same
// split, parse and aggregation as a scrape. Run with -benchmem: allocations
// per op stay 0 at any socket count.
func BenchmarkAggregate(b *testing.B) {
	for _, n := range []int{10_000, 100_000, 1_000_000} {
		b.Run(fmt.Sprintf("sockets=%d", n), func(b *testing.B) {
			datagrams := synthetic(b, n, 6)
			a := NewAggregator(DefaultOptions())
			add := a.Add
			msgs := make([]netlinkMessage, 0, 512)
			msgs, _ = aggregateDatagrams(a, add, datagrams, msgs)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				msgs, _ = aggregateDatagrams(a, add, datagrams, msgs)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/socket")
		})
	}
}

// TestAggregatorReleasesMemory: after a round with a source per socket,
// a quiet round gives the maps' memory back.
func TestAggregatorReleasesMemory(t *testing.T) {
	a := NewAggregator(DefaultOptions())
	for i := 0; i < 100_000; i++ {
		a.Add(Socket{State: StateSynRecv, LocalPort: 25, Remote: netip.AddrFrom4([4]byte{198, byte(18 + i>>16), byte(i >> 8), byte(i)})})
	}
	if r := a.Result(); r.Family[IPv4].Sources != 100_000 {
		t.Fatalf("sources = %d, want 100000", r.Family[IPv4].Sources)
	}
	if a.peak != 100_000 {
		t.Fatalf("peak = %d", a.peak)
	}
	a.Reset()
	a.Add(syn("198.51.100.1", 25, "203.0.113.1"))
	if r := a.Result(); r.Family[IPv4].Sources != 1 || a.peak != 1 {
		t.Fatalf("after a quiet round: sources %d, peak %d; want 1, 1 (maps made anew)", r.Family[IPv4].Sources, a.peak)
	}
}
