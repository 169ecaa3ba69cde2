package prefix

import (
	"net/netip"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name, in, want string
		wantErr        bool
	}{
		{name: "canonical v4", in: "198.51.100.32/27", want: "198.51.100.32/27"},
		{name: "host bits cleared", in: "198.51.100.33/27", want: "198.51.100.32/27"},
		{name: "last of /27", in: "198.51.100.63/27", want: "198.51.100.32/27"},
		{name: "next /27", in: "198.51.100.64/27", want: "198.51.100.64/27"},
		{name: "bare v4", in: "203.0.113.7", want: "203.0.113.7/32"},
		{name: "v6 host bits", in: "2001:db8:1::5/64", want: "2001:db8:1::/64"},
		{name: "bare v6", in: "2001:db8::1", want: "2001:db8::1/128"},
		{name: "mapped v4 prefix", in: "::ffff:198.51.100.33/123", want: "198.51.100.32/27"},
		{name: "mapped bare", in: "::ffff:192.0.2.1", want: "192.0.2.1/32"},
		{name: "mapped too short", in: "::ffff:0:0/95", wantErr: true},
		{name: "spaces", in: "  192.0.2.0/24 ", want: "192.0.2.0/24"},
		{name: "empty", in: "", wantErr: true},
		{name: "garbage", in: "not-an-address", wantErr: true},
		{name: "bad length", in: "192.0.2.0/33", wantErr: true},
		{name: "bad octet", in: "198.51.100.300/27", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.in)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("Parse(%q) = %v, want error", tt.in, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.in, err)
			}
			if got.String() != tt.want {
				t.Fatalf("Parse(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func TestLengthsOf(t *testing.T) {
	l := DefaultLengths
	tests := []struct{ addr, want string }{
		{"198.51.100.31", "198.51.100.0/27"},
		{"198.51.100.32", "198.51.100.32/27"},
		{"::ffff:198.51.100.63", "198.51.100.32/27"},
		{"2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"},
		{"fe80::1%eth0", "fe80::/64"},
	}
	for _, tt := range tests {
		got := l.Of(netip.MustParseAddr(tt.addr))
		if got.String() != tt.want {
			t.Errorf("Of(%s) = %v, want %v", tt.addr, got, tt.want)
		}
	}
	if Family(netip.MustParseAddr("::ffff:192.0.2.1")) != FamilyIPv4 {
		t.Error("mapped address should be ipv4")
	}
	if err := (Lengths{IPv4: 0, IPv6: 64}).Validate(); err == nil {
		t.Error("ipv4 /0 aggregation should be refused")
	}
	if err := (Lengths{IPv4: 24, IPv6: 129}).Validate(); err == nil {
		t.Error("ipv6 /129 aggregation should be refused")
	}
}

func TestSet(t *testing.T) {
	s, err := ParseSet([]string{"192.0.2.0/24", "2001:db8:ffff::/48"})
	if err != nil {
		t.Fatal(err)
	}
	if !s.Contains(netip.MustParseAddr("::ffff:192.0.2.9")) {
		t.Error("mapped address inside allowlisted /24 not matched")
	}
	if s.Contains(netip.MustParseAddr("198.51.100.1")) {
		t.Error("address outside set matched")
	}
	if q, ok := s.Overlaps(netip.MustParsePrefix("192.0.0.0/16")); !ok || q.String() != "192.0.2.0/24" {
		t.Errorf("a /16 holding an allowlisted /24 must overlap, got %v %v", q, ok)
	}
	if _, ok := s.Overlaps(netip.MustParsePrefix("198.51.100.32/27")); ok {
		t.Error("unrelated prefix overlaps")
	}
	if _, err := ParseSet([]string{"192.0.2.0/24", "bogus"}); err == nil {
		t.Error("bad entry accepted")
	}
	if !AlwaysAllowed.Contains(netip.MustParseAddr("::1")) || !AlwaysAllowed.Contains(netip.MustParseAddr("127.0.0.53")) {
		t.Error("loopback not always allowed")
	}
	var nilSet *Set
	if nilSet.Contains(netip.MustParseAddr("192.0.2.1")) || nilSet.Len() != 0 {
		t.Error("nil set must be empty")
	}
}
