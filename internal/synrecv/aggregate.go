package synrecv

import (
	"cmp"
	"net/netip"
	"slices"

	"github.com/synguard/synguard/internal/prefix"
)

// Options says how sockets are aggregated.
type Options struct {
	// Lengths is the prefix length per family that sources are grouped by.
	Lengths prefix.Lengths
	// TopN is how many prefixes per family get their own series; the rest
	// are summed into "other".
	TopN int
	// Allow holds sources that are never counted as attackers, beside
	// prefix.AlwaysAllowed (loopback, link-local, multicast, unspecified).
	Allow *prefix.Set
	// Ports, when not empty, limits counting to SYN_RECV sockets on these
	// local ports.
	Ports []uint16
}

// DefaultOptions are the runbook's: /27 and /64, top 20, no allowlist.
func DefaultOptions() Options {
	return Options{Lengths: prefix.DefaultLengths, TopN: 20}
}

// Family indexes the per-family results.
const (
	IPv4 = 0
	IPv6 = 1
)

// PrefixCount is a prefix and its SYN_RECV sockets.
type PrefixCount struct {
	Prefix netip.Prefix
	Count  uint64
}

// FamilyResult is what one address family's sockets add up to.
type FamilyResult struct {
	// Top holds at most TopN prefixes, most sockets first, ties by prefix.
	Top []PrefixCount
	// Other sums the sockets of the prefixes beyond Top.
	Other uint64
	// Prefixes and Sources count distinct counted prefixes and addresses.
	Prefixes, Sources int
	// Excluded counts sockets from loopback and allowlisted sources.
	Excluded uint64
}

// PortCount is a listening local port and its SYN_RECV sockets.
type PortCount struct {
	Port  uint16
	Count uint64
}

// Result is one aggregation. Its slices are reused by the next Reset.
type Result struct {
	Family [2]FamilyResult
	// Ports holds every listening port (within Options.Ports when set),
	// including ports with no SYN_RECV socket, in port order.
	Ports []PortCount
}

// source is what the Aggregator remembers about one remote address.
type source struct {
	slot int32 // index into Aggregator.counts, or -1 when excluded
}

// Aggregator folds sockets into per-prefix and per-port counts. Its memory
// grows with the number of distinct source addresses and prefixes, never
// with the number of sockets: each socket costs one map lookup keyed by its
// source address, and its maps and slices are kept across Resets so that a
// steady scrape allocates nothing. Not safe for concurrent use.
type Aggregator struct {
	opts      Options
	portAllow *[1024]uint64 // bit set of Options.Ports, nil for all
	listening [1024]uint64  // bit set of listening ports
	ports     []uint32      // SYN_RECV sockets per local port, 65536 entries

	sources  map[[16]byte]source // keyed by the 16-byte form: v4 and mapped v4 are one source, and it hashes faster than netip.Addr
	slots    map[netip.Prefix]int32
	counts   []PrefixCount
	excluded [2]uint64
	nsources [2]int
	// peak is the most sources the maps have held since they were made.
	peak int

	res Result
}

// shrinkBelow is the map size under which the Aggregator never bothers to
// give memory back.
const shrinkBelow = 1 << 16

// NewAggregator returns an empty Aggregator.
func NewAggregator(o Options) *Aggregator {
	a := &Aggregator{
		ports:   make([]uint32, 1<<16),
		sources: make(map[[16]byte]source),
		slots:   make(map[netip.Prefix]int32),
	}
	a.SetOptions(o)
	return a
}

// SetOptions changes the options and resets the counts.
func (a *Aggregator) SetOptions(o Options) {
	if o.TopN < 0 {
		o.TopN = 0
	}
	a.opts = o
	a.portAllow = nil
	if len(o.Ports) > 0 {
		a.portAllow = new([1024]uint64)
		for _, p := range o.Ports {
			a.portAllow[p>>6] |= 1 << (p & 63)
		}
	}
	a.Reset()
}

// Reset forgets all sockets, keeping the memory for the next round.
func (a *Aggregator) Reset() {
	clear(a.listening[:])
	clear(a.ports)
	clear(a.sources)
	clear(a.slots)
	a.counts = a.counts[:0]
	a.excluded = [2]uint64{}
	a.nsources = [2]int{}
}

func (a *Aggregator) portAllowed(p uint16) bool {
	return a.portAllow == nil || a.portAllow[p>>6]&(1<<(p&63)) != 0
}

// Add counts one socket. Sockets in states other than SYN_RECV and LISTEN
// are ignored.
func (a *Aggregator) Add(s Socket) {
	switch s.State {
	case StateListen:
		a.listening[s.LocalPort>>6] |= 1 << (s.LocalPort & 63)
		return
	case StateSynRecv:
	default:
		return
	}
	if !a.portAllowed(s.LocalPort) {
		return
	}
	a.ports[s.LocalPort]++
	key := s.Remote.As16()
	src, ok := a.sources[key]
	if !ok {
		src = a.newSource(key, s.Remote)
	}
	if src.slot < 0 {
		a.excluded[familyIndex(s.Remote)]++
		return
	}
	a.counts[src.slot].Count++
}

func familyIndex(addr netip.Addr) int {
	if addr.Unmap().Is4() {
		return IPv4
	}
	return IPv6
}

// newSource classifies an address seen for the first time: excluded, or
// counted under its prefix (a new prefix gets the next slot).
func (a *Aggregator) newSource(key [16]byte, addr netip.Addr) source {
	fam := familyIndex(addr)
	src := source{slot: -1}
	if !prefix.AlwaysAllowed.Contains(addr) && !a.opts.Allow.Contains(addr) && addr.IsValid() {
		p := a.opts.Lengths.Of(addr)
		slot, ok := a.slots[p]
		if !ok {
			slot = int32(len(a.counts))
			a.counts = append(a.counts, PrefixCount{Prefix: p})
			a.slots[p] = slot
		}
		src.slot = slot
		a.nsources[fam]++
	}
	a.sources[key] = src
	return src
}

// Result returns the aggregation of the sockets added since the last Reset.
// The returned slices stay valid until the next Reset or Result.
func (a *Aggregator) Result() *Result {
	// Most sockets first, then by prefix, so that top N is stable.
	slices.SortFunc(a.counts, func(x, y PrefixCount) int {
		if c := cmp.Compare(y.Count, x.Count); c != 0 {
			return c
		}
		if c := x.Prefix.Addr().Compare(y.Prefix.Addr()); c != 0 {
			return c
		}
		return cmp.Compare(x.Prefix.Bits(), y.Prefix.Bits())
	})
	for f := range a.res.Family {
		fr := &a.res.Family[f]
		*fr = FamilyResult{Top: fr.Top[:0], Sources: a.nsources[f], Excluded: a.excluded[f]}
	}
	for _, pc := range a.counts {
		fr := &a.res.Family[familyIndex(pc.Prefix.Addr())]
		fr.Prefixes++
		if len(fr.Top) < a.opts.TopN {
			fr.Top = append(fr.Top, pc)
		} else {
			fr.Other += pc.Count
		}
	}
	a.res.Ports = a.res.Ports[:0]
	for w, bits := range a.listening {
		for bits != 0 {
			b := 0
			for bits&(1<<b) == 0 {
				b++
			}
			bits &^= 1 << b
			p := uint16(w<<6 | b)
			if a.portAllowed(p) {
				a.res.Ports = append(a.res.Ports, PortCount{Port: p, Count: uint64(a.ports[p])})
			}
		}
	}
	a.release()
	return &a.res
}

// release empties the maps for the next round (sorting moved the counts, so
// the slot map is stale anyway). Go maps keep their size when cleared: after
// a diffuse flood (a source per socket) has gone, they are made anew so that
// the memory goes too.
func (a *Aggregator) release() {
	n := len(a.sources)
	if n > a.peak {
		a.peak = n
	}
	if a.peak > shrinkBelow && n < a.peak/4 {
		a.sources = make(map[[16]byte]source, n)
		a.slots = make(map[netip.Prefix]int32, len(a.slots))
		a.counts = make([]PrefixCount, 0, len(a.counts))
		a.peak = n
		return
	}
	clear(a.slots)
	clear(a.sources)
}
