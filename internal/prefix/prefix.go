package prefix

import (
	"fmt"
	"net/netip"
	"strings"
)

// Family names used in metric labels and configuration.
const (
	FamilyIPv4 = "ipv4"
	FamilyIPv6 = "ipv6"
)

// Family returns FamilyIPv4 or FamilyIPv6 for a canonical address.
func Family(a netip.Addr) string {
	if a.Unmap().Is4() {
		return FamilyIPv4
	}
	return FamilyIPv6
}

// CanonicalAddr unmaps an IPv4-mapped IPv6 address and drops any zone.
func CanonicalAddr(a netip.Addr) netip.Addr {
	return a.Unmap().WithZone("")
}

// Canonical returns p with a mapped IPv4 address unwrapped (and its length
// reduced by the 96 bits of the ::ffff:0:0/96 prefix) and the host bits
// cleared. An invalid prefix, or a mapped prefix shorter than /96, is returned
// as the zero Prefix.
func Canonical(p netip.Prefix) netip.Prefix {
	if !p.IsValid() {
		return netip.Prefix{}
	}
	a, bits := p.Addr().WithZone(""), p.Bits()
	if a.Is4In6() {
		if bits < 96 {
			return netip.Prefix{}
		}
		a, bits = a.Unmap(), bits-96
	}
	return netip.PrefixFrom(a, bits).Masked()
}

// Parse reads a prefix in CIDR notation, or a bare address (a /32 or /128),
// and returns it in canonical form. Host bits are cleared rather than refused:
// an alert label of 198.51.100.33/27 means the /27 that holds .33.
func Parse(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return netip.Prefix{}, fmt.Errorf("empty prefix")
	}
	var p netip.Prefix
	if strings.Contains(s, "/") {
		var err error
		p, err = netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("parse prefix %q: %w", s, err)
		}
	} else {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("parse prefix %q: %w", s, err)
		}
		p = netip.PrefixFrom(a, a.BitLen())
	}
	c := Canonical(p)
	if !c.IsValid() {
		return netip.Prefix{}, fmt.Errorf("parse prefix %q: an IPv4-mapped prefix must be at least /96", s)
	}
	return c, nil
}

// Lengths is the aggregation length per family, for example /27 and /64.
type Lengths struct {
	IPv4 int `yaml:"ipv4"`
	IPv6 int `yaml:"ipv6"`
}

// DefaultLengths are the runbook's lengths: IPv4 /27 and IPv6 /64.
var DefaultLengths = Lengths{IPv4: 27, IPv6: 64}

// Validate reports a length outside 1..32 (IPv4) or 1..128 (IPv6).
func (l Lengths) Validate() error {
	if l.IPv4 < 1 || l.IPv4 > 32 {
		return fmt.Errorf("ipv4 prefix length %d out of range 1..32", l.IPv4)
	}
	if l.IPv6 < 1 || l.IPv6 > 128 {
		return fmt.Errorf("ipv6 prefix length %d out of range 1..128", l.IPv6)
	}
	return nil
}

// Of returns the canonical prefix of the configured length holding a.
func (l Lengths) Of(a netip.Addr) netip.Prefix {
	a = CanonicalAddr(a)
	bits := l.IPv6
	if a.Is4() {
		bits = l.IPv4
	}
	p, _ := a.Prefix(bits)
	return p
}

// Compare orders prefixes by address, then by length (narrower last): the
// one order every sorted list of prefixes in synguard uses.
func Compare(a, b netip.Prefix) int {
	if c := a.Addr().Compare(b.Addr()); c != 0 {
		return c
	}
	return a.Bits() - b.Bits()
}
