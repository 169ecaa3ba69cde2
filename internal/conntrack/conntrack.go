package conntrack

import (
	"fmt"
	"net/netip"
	"os"

	"github.com/mdlayher/netlink"
	ct "github.com/ti-mo/conntrack"
)

// Cutter deletes conntrack entries of connections to or from given prefixes
// in one network namespace. It needs CAP_NET_ADMIN there.
type Cutter struct {
	// Netns is the path of the network namespace whose table to cut
	// (/run/netns/NAME); empty means the caller's own.
	Netns string
}

// Cut deletes every assured (answered, not half-open) connection whose
// original source or destination lies in one of ps, and returns how many it
// deleted. Half-open entries of a SYN flood are left to expire: deleting
// them would cost a netlink round trip each and change nothing. The kernel
// leaves them out of the dump (a status filter, Linux 5.15 and later), so
// a flood's thousands of SYN_RECV entries cost the cut nothing to read.
func (c Cutter) Cut(ps []netip.Prefix) (int, error) {
	if len(ps) == 0 {
		return 0, nil
	}
	m := newMatcher(ps)
	cfg := &netlink.Config{}
	if c.Netns != "" {
		f, err := os.Open(c.Netns)
		if err != nil {
			return 0, fmt.Errorf("open network namespace: %w", err)
		}
		defer f.Close()
		cfg.NetNS = int(f.Fd())
	}
	conn, err := ct.Dial(cfg)
	if err != nil {
		return 0, fmt.Errorf("open conntrack netlink socket: %w", err)
	}
	defer conn.Close()
	flows, err := dumpAssured(conn)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, f := range flows {
		if !f.Status.Assured() {
			continue
		}
		if !m.match(f.TupleOrig.IP.SourceAddress) && !m.match(f.TupleOrig.IP.DestinationAddress) {
			continue
		}
		if err := conn.Delete(f); err != nil {
			// Gone meanwhile (closed, timed out): nothing to cut.
			continue
		}
		n++
	}
	return n, nil
}

// dumpAssured returns the assured connections of the table: the kernel
// filters them where it can (Linux 5.15 and later), else the whole table
// is read and the caller filters (an older kernel refuses the filter, or
// ignores it: the caller checks each flow's status either way).
func dumpAssured(conn *ct.Conn) ([]ct.Flow, error) {
	flows, err := conn.DumpFilter(ct.NewFilter().Status(ct.StatusAssured), nil)
	if err == nil {
		return flows, nil
	}
	flows, err = conn.Dump(nil)
	if err != nil {
		return nil, fmt.Errorf("dump conntrack table: %w", err)
	}
	return flows, nil
}

// matcher finds whether an address lies in any of a set of prefixes in a
// few map lookups: one per distinct prefix length.
type matcher struct {
	set  map[netip.Prefix]struct{}
	bits map[int]bool
}

func newMatcher(ps []netip.Prefix) *matcher {
	m := &matcher{set: make(map[netip.Prefix]struct{}, len(ps)), bits: map[int]bool{}}
	for _, p := range ps {
		p = p.Masked()
		m.set[p] = struct{}{}
		m.bits[p.Bits()] = true
	}
	return m
}

func (m *matcher) match(a netip.Addr) bool {
	if !a.IsValid() {
		return false
	}
	a = a.Unmap()
	for b := range m.bits {
		if b > a.BitLen() {
			continue
		}
		p, err := a.Prefix(b)
		if err != nil {
			continue
		}
		if _, ok := m.set[p]; ok && p.Addr().BitLen() == a.BitLen() {
			return true
		}
	}
	return false
}
