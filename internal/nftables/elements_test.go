package nftables

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	nft "github.com/google/nftables"
)

func pfx(ss ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParsePrefix(s)
	}
	return out
}

func TestCover(t *testing.T) {
	got := cover(pfx("203.0.113.64/27", "203.0.113.0/24", "203.0.113.128/27", "198.51.100.32/27", "2001:db8:5:1::/64", "2001:db8:5::/48", "198.51.100.32/27"))
	want := pfx("198.51.100.32/27", "203.0.113.0/24", "2001:db8:5::/48")
	if !slices.Equal(got, want) {
		t.Errorf("cover = %v, want %v", got, want)
	}
	// An IPv4 prefix never covers an IPv6 one, whatever its bits.
	if got := cover(pfx("192.0.2.0/24", "::c000:200/120")); len(got) != 2 {
		t.Errorf("cover across families = %v", got)
	}
}

// TestElementsRoundTrip: prefixes become intervals and come back, whatever
// order the kernel dumps them in, touching intervals and the family's last
// address included.
func TestElementsRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		fam int
		ps  []netip.Prefix
	}{
		{0, pfx("198.51.100.0/25", "198.51.100.128/25", "203.0.113.7/32")},
		{0, pfx("255.255.255.0/24")},
		{1, pfx("2001:db8:5:1::/64", "2001:db8:5:2::/64", "ffff:ffff:ffff:ffff::/64")},
	} {
		var elems []nft.SetElement
		for _, p := range tc.ps {
			elems = append(elems, toElements(p, time.Hour)...)
		}
		for _, e := range elems {
			if e.IntervalEnd && e.Timeout != 0 {
				t.Errorf("an interval end carries a timeout: the kernel refuses it")
			}
		}
		slices.Reverse(elems)
		var got []netip.Prefix
		for _, e := range fromElements(tc.fam, elems) {
			got = append(got, e.p)
		}
		slices.SortFunc(got, func(a, b netip.Prefix) int { return a.Addr().Compare(b.Addr()) })
		if !slices.Equal(got, tc.ps) {
			t.Errorf("round trip of %v = %v", tc.ps, got)
		}
	}
}

func TestRangePrefixes(t *testing.T) {
	got := rangePrefixes(netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.6"))
	want := pfx("192.0.2.1/32", "192.0.2.2/31", "192.0.2.4/31", "192.0.2.6/32")
	if !slices.Equal(got, want) {
		t.Errorf("rangePrefixes = %v, want %v", got, want)
	}
}

// TestPlan: additions, deletions of what the cover drops, and renewals only
// when a deadline grows.
func TestPlan(t *testing.T) {
	b := &Backend{cfg: DefaultConfig().withDefaults()}
	now := time.Now()
	narrow, wide, other := pfx("203.0.113.64/27")[0], pfx("203.0.113.0/24")[0], pfx("192.0.2.0/24")[0]
	cur := map[netip.Prefix]time.Time{narrow: b.deadline(now.Add(time.Hour)), other: b.deadline(now.Add(2 * time.Hour))}
	want := map[netip.Prefix]time.Time{narrow: now.Add(time.Hour), wide: now.Add(time.Hour), other: now.Add(time.Hour)}
	pl := b.planFor(want, cur)
	if !slices.Equal(pl.add, []netip.Prefix{wide}) || !slices.Equal(pl.del, []netip.Prefix{narrow}) || len(pl.renew) != 0 {
		t.Errorf("plan = +%v -%v renew %v", pl.add, pl.del, pl.renew)
	}
	// other keeps its later kernel deadline.
	if !pl.next[other].Equal(cur[other]) {
		t.Errorf("other's deadline %v, want the later %v kept", pl.next[other], cur[other])
	}
	want[other] = now.Add(3 * time.Hour)
	if pl := b.planFor(want, cur); !slices.Equal(pl.renew, []netip.Prefix{other}) {
		t.Errorf("renew = %v, want [%v]", pl.renew, other)
	}
	// No expiry is later than any: renewed to no timeout.
	want[other] = time.Time{}
	if pl := b.planFor(want, cur); !slices.Equal(pl.renew, []netip.Prefix{other}) || !pl.next[other].IsZero() {
		t.Errorf("renew to none = %v %v", pl.renew, pl.next[other])
	}
}
