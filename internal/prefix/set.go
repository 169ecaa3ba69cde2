package prefix

import (
	"fmt"
	"net/netip"
	"sort"
)

// Set is an immutable set of canonical prefixes, used for allowlists. Lookups
// are linear in the number of entries: allowlists hold tens of ranges, and a
// linear scan over a small slice beats a trie at that size.
type Set struct {
	prefixes []netip.Prefix
}

// NewSet builds a Set from prefixes, canonicalising each one.
func NewSet(ps ...netip.Prefix) *Set {
	s := &Set{}
	for _, p := range ps {
		if c := Canonical(p); c.IsValid() {
			s.prefixes = append(s.prefixes, c)
		}
	}
	sort.Slice(s.prefixes, func(i, j int) bool { return s.prefixes[i].Bits() < s.prefixes[j].Bits() })
	return s
}

// ParseSet parses each string with Parse and returns the Set, or the first
// error with the entry that caused it.
func ParseSet(entries []string) (*Set, error) {
	ps := make([]netip.Prefix, 0, len(entries))
	for i, e := range entries {
		p, err := Parse(e)
		if err != nil {
			return nil, fmt.Errorf("entry %d: %w", i+1, err)
		}
		ps = append(ps, p)
	}
	return NewSet(ps...), nil
}

// Contains reports whether a lies in any prefix of the set.
func (s *Set) Contains(a netip.Addr) bool {
	if s == nil {
		return false
	}
	a = CanonicalAddr(a)
	for _, p := range s.prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Overlaps returns the first prefix of the set that overlaps p (contains it,
// or lies inside it), so that a block of a range holding an allowlisted
// address is refused, not only a block inside an allowlisted range.
func (s *Set) Overlaps(p netip.Prefix) (netip.Prefix, bool) {
	if s == nil {
		return netip.Prefix{}, false
	}
	p = Canonical(p)
	for _, q := range s.prefixes {
		if q.Overlaps(p) {
			return q, true
		}
	}
	return netip.Prefix{}, false
}

// Prefixes returns a copy of the set's prefixes.
func (s *Set) Prefixes() []netip.Prefix {
	if s == nil {
		return nil
	}
	return append([]netip.Prefix(nil), s.prefixes...)
}

// Len returns the number of prefixes in the set.
func (s *Set) Len() int {
	if s == nil {
		return 0
	}
	return len(s.prefixes)
}

// AlwaysAllowed holds the ranges no configuration can make a target:
// loopback, link-local, unspecified and multicast, for both families.
var AlwaysAllowed = NewSet(
	netip.MustParsePrefix("0.0.0.0/32"),
	netip.MustParsePrefix("127.0.0.0/8"),
	netip.MustParsePrefix("169.254.0.0/16"),
	netip.MustParsePrefix("224.0.0.0/4"),
	netip.MustParsePrefix("::/128"),
	netip.MustParsePrefix("::1/128"),
	netip.MustParsePrefix("fe80::/10"),
	netip.MustParsePrefix("ff00::/8"),
)
