package soak

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"
)

// Pool draws the campaign's prefixes from the documentation ranges, few
// enough that blocks collide (the same prefix again, a /32 inside a /27):
// IPv4 /27-/32 inside the first four /27s of 198.51.100.0/24 and
// 203.0.113.0/24 (the lab's attacker is 198.51.100.33, its control
// 198.51.100.100), IPv6 /64s of 2001:db8:5::/61 (the attacker's and the
// control's) and 2001:db8:9::/61.
type Pool struct{ rng *rand.Rand }

// NewPool draws from rng.
func NewPool(rng *rand.Rand) Pool { return Pool{rng} }

// Prefix returns a random valid block.
func (p Pool) Prefix() netip.Prefix {
	r := p.rng
	if r.IntN(4) == 0 {
		base := [2]byte{0x00, 0x05}
		if r.IntN(3) == 0 {
			base[1] = 0x09
		}
		a := netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, base[0], base[1], 0, byte(r.IntN(8))})
		return netip.PrefixFrom(a, 64)
	}
	a4 := [4]byte{198, 51, 100, 0}
	if r.IntN(3) == 0 {
		a4 = [4]byte{203, 0, 113, 0}
	}
	// Half are /27s, so that the same ones come back often; the rest are
	// narrower, inside them.
	bits := 27
	if r.IntN(2) == 0 {
		bits = 28 + r.IntN(5)
	}
	off := r.IntN(128)
	a4[3] = byte(off)
	return netip.PrefixFrom(netip.AddrFrom4(a4), bits).Masked()
}

// Hostile returns a prefix only hostile requests carry: 198.51.100.224/27
// and what lies in it, which no good operation ever blocks, so a hostile
// request that made a block shows as one there.
func (p Pool) Hostile() netip.Prefix {
	bits := 27 + p.rng.IntN(6)
	a := netip.AddrFrom4([4]byte{198, 51, 100, byte(224 + p.rng.IntN(32))})
	return netip.PrefixFrom(a, bits).Masked()
}

// HostileRange holds every prefix Hostile returns.
var HostileRange = netip.MustParsePrefix("198.51.100.224/27")

// span is the addresses of one prefix, first to last.
type span struct{ first, last netip.Addr }

func spanOf(p netip.Prefix) span {
	p = p.Masked()
	first := p.Addr()
	b := first.AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	last, _ := netip.AddrFromSlice(b)
	return span{first, last}
}

// Cover is the set of addresses some prefixes hold, as disjoint sorted
// spans (adjacent ones joined), so that two lists of prefixes that drop
// the same addresses compare equal however they are cut.
type Cover []span

// CoverOf returns the addresses ps hold.
func CoverOf(ps ...netip.Prefix) Cover {
	var ss []span
	for _, p := range ps {
		ss = append(ss, spanOf(p))
	}
	return coverOfSpans(ss)
}

func coverOfSpans(ss []span) Cover {
	slices.SortFunc(ss, func(a, b span) int { return a.first.Compare(b.first) })
	var out Cover
	for _, s := range ss {
		if n := len(out); n > 0 {
			top := &out[n-1]
			next := top.last.Next()
			if top.last.Is4() == s.first.Is4() && (!next.IsValid() || s.first.Compare(next) <= 0) {
				if s.last.Compare(top.last) > 0 {
					top.last = s.last
				}
				continue
			}
		}
		out = append(out, s)
	}
	return out
}

// WithRange returns c with the addresses first..last (an nftables
// interval) added.
func (c Cover) WithRange(first, last netip.Addr) Cover {
	return coverOfSpans(append(slices.Clone(c), span{first, last}))
}

// Equal reports whether c and d hold the same addresses.
func (c Cover) Equal(d Cover) bool { return slices.Equal(c, d) }

// Contains reports whether c holds a.
func (c Cover) Contains(a netip.Addr) bool {
	for _, s := range c {
		if s.first.Compare(a) <= 0 && a.Compare(s.last) <= 0 {
			return true
		}
	}
	return false
}

// Overlaps reports whether c holds any address of p.
func (c Cover) Overlaps(p netip.Prefix) bool {
	ps := spanOf(p)
	for _, s := range c {
		if s.first.Is4() == ps.first.Is4() && s.first.Compare(ps.last) <= 0 && ps.first.Compare(s.last) <= 0 {
			return true
		}
	}
	return false
}

// String lists the spans, a prefix where a span is one.
func (c Cover) String() string {
	var parts []string
	for _, s := range c {
		parts = append(parts, s.first.String()+"-"+s.last.String())
	}
	return "{" + strings.Join(parts, " ") + "}"
}

// Log is the campaign's operation log: what was done, when, and what the
// responder answered; a failure prints it whole, with the seed.
type Log struct {
	mu    sync.Mutex
	start time.Time
	lines []string
}

// NewLog starts a log at now.
func NewLog() *Log { return &Log{start: time.Now()} }

// Add appends one line.
func (l *Log) Add(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, fmt.Sprintf("%8.3fs  ", time.Since(l.start).Seconds())+fmt.Sprintf(format, args...))
}

// String is the whole log.
func (l *Log) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// Counts are one setup's totals, as test/bench/results/soak.md reports
// them.
type Counts struct {
	Ops, Faults, Checks, Violations int
	// Kinds counts the operations by kind.
	Kinds map[string]int
}

// Add counts one operation of kind; fault says it is a fault.
func (c *Counts) Add(kind string, fault bool) {
	if c.Kinds == nil {
		c.Kinds = map[string]int{}
	}
	c.Ops++
	if fault {
		c.Faults++
	}
	c.Kinds[kind]++
}

// Note counts something seen that is neither an operation nor a
// violation (a start refused while the state directory was full).
func (c *Counts) Note(kind string) {
	if c.Kinds == nil {
		c.Kinds = map[string]int{}
	}
	c.Kinds["note:"+kind]++
}

// Tally adds n to kind without counting an operation (the signals one
// forging operation sent).
func (c *Counts) Tally(kind string, n int) {
	if c.Kinds == nil {
		c.Kinds = map[string]int{}
	}
	c.Kinds[kind] += n
}

// String is one line: the totals, then the kinds by name.
func (c Counts) String() string {
	var ks []string
	for k, n := range c.Kinds {
		ks = append(ks, fmt.Sprintf("%s=%d", k, n))
	}
	slices.Sort(ks)
	return fmt.Sprintf("ops=%d faults=%d checks=%d violations=%d [%s]", c.Ops, c.Faults, c.Checks, c.Violations, strings.Join(ks, " "))
}
