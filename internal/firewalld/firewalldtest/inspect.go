package firewalldtest

import (
	"net/netip"
	"slices"
	"sort"
	"strings"
)

// RuntimeSources returns the zone's runtime sources, sorted.
func (f *Fake) RuntimeSources(zone string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return sorted(f.rtSources[zone])
}

// PermanentSources returns the zone's permanent sources, sorted.
func (f *Fake) PermanentSources(zone string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return sorted(f.permSources[zone])
}

// RuntimeEntries returns the runtime ipset's entries, sorted, and whether
// the set is loaded.
func (f *Fake) RuntimeEntries(name string) ([]string, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.rtIPSets[name]
	if !ok {
		return nil, false
	}
	return sorted(s.entries), true
}

// PermanentIPSet returns the permanent ipset's settings and entries, and
// whether it exists.
func (f *Fake) PermanentIPSet(name string) (IPSetSettings, []string, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.permIPSets[name]
	if !ok {
		return IPSetSettings{}, nil, false
	}
	return s.clone().settings, sorted(s.entries), true
}

// AddRuntimeSource puts a source in the zone's runtime as another tool
// would, without a signal (for tests that the client leaves it alone).
func (f *Fake) AddRuntimeSource(zone, source string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rtSources[zone] = append(f.rtSources[zone], source)
}

// AddPermanentSource puts a source in the zone's permanent config.
func (f *Fake) AddPermanentSource(zone, source string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.permSources[zone] = append(f.permSources[zone], source)
}

// Blocked reports whether traffic from a is dropped: a runtime source of
// the drop or block zone, an entry of an ipset bound to one, or a stale
// rule a crash left behind.
func (f *Fake) Blocked(a netip.Addr) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, p := range f.blockedLocked(true) {
		if p.Contains(a.Unmap()) {
			return true
		}
	}
	for _, p := range f.stale {
		if p.Contains(a.Unmap()) {
			return true
		}
	}
	return false
}

// Stale returns what a crash left dropping until the next reload.
func (f *Fake) Stale() []netip.Prefix {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.stale)
}

// blockedLocked returns the ranges the drop zones block, through ipsets too
// if withSets.
func (f *Fake) blockedLocked(withSets bool) []netip.Prefix {
	var out []netip.Prefix
	for _, z := range dropZones {
		for _, s := range f.rtSources[z] {
			if name, ok := strings.CutPrefix(s, "ipset:"); ok {
				if set := f.rtIPSets[name]; set != nil && withSets {
					for _, e := range set.entries {
						if p, ok := parseNet(e); ok {
							out = append(out, p.Masked())
						}
					}
				}
				continue
			}
			if p, ok := parseNet(s); ok {
				out = append(out, p.Masked())
			}
		}
	}
	return out
}

func sorted(ss []string) []string {
	out := slices.Clone(ss)
	sort.Strings(out)
	return out
}

// parseNet parses an address or a network, host bits allowed (as Python's
// ipaddress.ip_network(strict=False) does for firewalld).
func parseNet(s string) (netip.Prefix, bool) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		return p, err == nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, false
	}
	return netip.PrefixFrom(a, a.BitLen()), true
}
