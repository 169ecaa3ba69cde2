package nftables

import (
	"bytes"
	"net/netip"
	"slices"
	"time"

	nft "github.com/google/nftables"

	"github.com/synguard/synguard/internal/prefix"
)

// cover returns the minimal cover of ps: every prefix that lies inside
// another of ps is left out, since the kernel refuses overlapping
// intervals. ps must be canonical; the result is sorted.
func cover(ps []netip.Prefix) []netip.Prefix {
	sorted := slices.Clone(ps)
	// Shorter prefixes first, so that a covering prefix is kept before the
	// ones it covers are looked at.
	slices.SortFunc(sorted, func(a, b netip.Prefix) int {
		if a.Bits() != b.Bits() {
			return a.Bits() - b.Bits()
		}
		return prefix.Compare(a, b)
	})
	var out []netip.Prefix
	for _, p := range sorted {
		if !slices.ContainsFunc(out, func(q netip.Prefix) bool { return covers(q, p) }) {
			out = append(out, p)
		}
	}
	slices.SortFunc(out, prefix.Compare)
	return slices.Compact(out)
}

// covers reports whether q holds every address of p.
func covers(q, p netip.Prefix) bool {
	return q.Addr().Is4() == p.Addr().Is4() && q.Bits() <= p.Bits() && q.Contains(p.Addr())
}

// famIndex is p's index in families.
func famIndex(p netip.Prefix) int {
	if p.Addr().Is4() {
		return 0
	}
	return 1
}

// lastAddr is the last address of p.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// toElements is the interval of p: its first address, and the address just
// past its last as the interval's end (none when p reaches the family's
// last address: the interval then runs to the end). timeout 0 is none; it
// goes on the start alone, since the kernel refuses one on an end.
func toElements(p netip.Prefix, timeout time.Duration) []nft.SetElement {
	start := nft.SetElement{Key: p.Addr().AsSlice(), Timeout: timeout}
	end := lastAddr(p).Next()
	if !end.IsValid() {
		return []nft.SetElement{start}
	}
	return []nft.SetElement{start, {Key: end.AsSlice(), IntervalEnd: true}}
}

// element is one interval read back from the kernel.
type element struct {
	p netip.Prefix
	// left is how long the kernel keeps it; 0 for no timeout.
	left time.Duration
}

// fromElements turns a dump of an interval set back into prefixes. The
// kernel dumps starts and ends in its own order; sorted by key (an end
// before a start at the same key, where two intervals touch), each start is
// followed by its end. A range that is no single prefix (an operator's own
// element) comes back as the prefixes that make it up.
func fromElements(fam int, elems []nft.SetElement) []element {
	sorted := slices.Clone(elems)
	slices.SortStableFunc(sorted, func(a, b nft.SetElement) int {
		if c := bytes.Compare(a.Key, b.Key); c != 0 {
			return c
		}
		switch {
		case a.IntervalEnd && !b.IntervalEnd:
			return -1
		case !a.IntervalEnd && b.IntervalEnd:
			return 1
		}
		return 0
	})
	var out []element
	for i, e := range sorted {
		if e.IntervalEnd {
			continue
		}
		first, ok := netip.AddrFromSlice(e.Key)
		if !ok || (fam == 0) != first.Is4() {
			continue
		}
		last := maxAddr(fam)
		if i+1 < len(sorted) && sorted[i+1].IntervalEnd {
			if end, ok := netip.AddrFromSlice(sorted[i+1].Key); ok {
				last = end.Prev()
			}
		}
		left := e.Expires
		if e.Timeout == 0 {
			left = 0
		}
		for _, p := range rangePrefixes(first, last) {
			out = append(out, element{p: p, left: left})
		}
	}
	return out
}

func maxAddr(fam int) netip.Addr {
	if fam == 0 {
		return netip.AddrFrom4([4]byte{255, 255, 255, 255})
	}
	var b [16]byte
	for i := range b {
		b[i] = 0xff
	}
	return netip.AddrFrom16(b)
}

// rangePrefixes is the fewest prefixes that make up first..last.
func rangePrefixes(first, last netip.Addr) []netip.Prefix {
	var out []netip.Prefix
	for n := 0; n < 260 && first.IsValid() && first.Compare(last) <= 0; n++ {
		bits := first.BitLen()
		// The widest prefix starting at first that ends at or before last.
		for bits > 0 {
			p := netip.PrefixFrom(first, bits-1)
			if p.Masked().Addr() != first || lastAddr(p).Compare(last) > 0 {
				break
			}
			bits--
		}
		p := netip.PrefixFrom(first, bits)
		out = append(out, p)
		next := lastAddr(p).Next()
		if !next.IsValid() {
			break
		}
		first = next
	}
	return out
}
