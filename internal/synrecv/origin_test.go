package synrecv

import (
	"net/netip"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/synguard/synguard/internal/origin"
	"github.com/synguard/synguard/internal/origin/origintest"
)

// fakeOrigin answers from a map and counts lookups.
type fakeOrigin struct {
	m       map[netip.Prefix]origin.Info
	lookups int
}

func (f *fakeOrigin) Lookup(p netip.Prefix) origin.Info { f.lookups++; return f.m[p] }

func (f *fakeOrigin) Enabled() bool { return f.m != nil }

// TestCollectorOrigin: only prefixes with their own series get an origin
// series (never "other"), so origin adds at most top N series per family
// and top N lookups per scrape, whatever the socket count.
func TestCollectorOrigin(t *testing.T) {
	src := &fakeSource{sockets: []Socket{
		listen("0.0.0.0", 25),
		syn("198.51.100.1", 25, "203.0.113.33"),
		syn("198.51.100.1", 25, "203.0.113.34"),
		syn("198.51.100.1", 25, "192.0.2.200"), // beyond top 1: summed in other
	}}
	o := DefaultOptions()
	o.TopN = 1
	c := NewCollector(src, o)
	if got, _ := gather(t, c); len(filterPrefix(got, "synguard_syn_recv_prefix_origin_info")) != 0 {
		t.Fatalf("origin series without an origin lookup: %v", got)
	}
	fo := &fakeOrigin{m: map[netip.Prefix]origin.Info{
		netip.MustParsePrefix("203.0.113.32/27"): {ASN: 64496, ASOrg: "Example Flood Net", Country: "ZZ"},
	}}
	c.SetOrigin(&fakeOrigin{})
	if got, _ := gather(t, c); len(filterPrefix(got, "synguard_syn_recv_prefix_origin_info")) != 0 {
		t.Fatalf("origin series while no database is configured: %v", got)
	}
	c.SetOrigin(fo)
	got, err := gather(t, c)
	if err != nil {
		t.Fatal(err)
	}
	// Label values in label-name order: as_org, asn, country, family, prefix.
	want := "synguard_syn_recv_prefix_origin_info Example Flood Net 64496 ZZ ipv4 203.0.113.32/27"
	if o := filterPrefix(got, "synguard_syn_recv_prefix_origin_info"); len(o) != 1 || o[0] != want {
		t.Fatalf("origin series = %v, want %v", o, want)
	}
	if fo.lookups != 1 {
		t.Errorf("%d lookups for one prefix with its own series", fo.lookups)
	}
}

func filterPrefix(m map[string]float64, name string) []string {
	var out []string
	for k := range m {
		if len(k) > len(name) && k[:len(name)+1] == name+" " {
			out = append(out, k)
		}
	}
	return out
}

// BenchmarkCollectorOrigin is one scrape of 100,000 SYN_RECV sockets from
// about 3,000 /27s of 198.18.0.0/15 (top 20 published), without and with origin lookups against
// real (small) MaxMind-format databases: origin adds top-N lookups per
// scrape, not per-socket work.
func BenchmarkCollectorOrigin(b *testing.B) {
	socks := []Socket{listen("0.0.0.0", 25)}
	for i := range 100000 {
		a := netip.AddrFrom4([4]byte{198, 18, byte(i / 256 % 250), byte(i % 256)}) // 198.18.0.0/15: never traffic
		socks = append(socks, Socket{State: StateSynRecv, Local: netip.MustParseAddr("198.51.100.1"), LocalPort: 25, Remote: a})
	}
	asn, country, err := origintest.Fixtures(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	src := origin.NewSource(nil)
	if err := src.Apply(origin.Config{ASNDatabase: asn, CountryDatabase: country}); err != nil {
		b.Fatal(err)
	}
	for _, withOrigin := range []bool{false, true} {
		name := "without_origin"
		if withOrigin {
			name = "with_origin"
		}
		b.Run(name, func(b *testing.B) {
			c := NewCollector(&fakeSource{sockets: socks}, DefaultOptions())
			if withOrigin {
				c.SetOrigin(src)
			}
			ch := make(chan prometheus.Metric, 1024)
			go func() {
				for range ch {
				}
			}()
			b.ReportAllocs()
			for b.Loop() {
				if err := c.Update(ch); err != nil {
					b.Fatal(err)
				}
			}
			close(ch)
		})
	}
}
