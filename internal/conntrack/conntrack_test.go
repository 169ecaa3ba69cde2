package conntrack

import (
	"net/netip"
	"testing"
)

func TestMatcher(t *testing.T) {
	m := newMatcher([]netip.Prefix{
		netip.MustParsePrefix("198.51.100.32/27"),
		netip.MustParsePrefix("2001:db8:1::/64"),
		netip.MustParsePrefix("203.0.113.7/32"),
	})
	for _, tc := range []struct {
		addr string
		want bool
	}{
		{"198.51.100.33", true},
		{"198.51.100.63", true},
		{"198.51.100.64", false},
		{"::ffff:198.51.100.40", true},
		{"2001:db8:1::99", true},
		{"2001:db8:2::1", false},
		{"203.0.113.7", true},
		{"203.0.113.8", false},
	} {
		if got := m.match(netip.MustParseAddr(tc.addr)); got != tc.want {
			t.Errorf("match(%s) = %v, want %v", tc.addr, got, tc.want)
		}
	}
	if m.match(netip.Addr{}) {
		t.Error("the zero address matched")
	}
}
