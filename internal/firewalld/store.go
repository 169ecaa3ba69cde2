package firewalld

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/godbus/dbus/v5"

	"github.com/synguard/synguard/internal/prefix"
)

// store is one place prefixes live in firewalld: the zone's sources or one
// ipset's entries, in the runtime or the permanent config. Its add and
// remove treat firewalld's idempotency answers as success.
type store struct {
	desc   string // for logs and errors: "runtime zone drop"
	family string // "" for a zone (both families), else prefix.FamilyIPv4/6
	nested bool   // an ipset: firewalld refuses overlapping entries
	// alreadyCode is the answer to an add of what someone else put there
	// first, reported in change.already (the runtime zone's
	// ZONE_ALREADY_SET: an operator's own source). Other stores treat their
	// idempotency answers as success.
	alreadyCode string
	list        func(context.Context) ([]string, error)
	add         func(context.Context, string) error
	remove      func(context.Context, string) error
	replace     func(context.Context, []string) error // ipsets only
}

// idempotent maps the given codes to success.
func idempotent(err error, codes ...string) error {
	for _, code := range codes {
		if IsCode(err, code) {
			return nil
		}
	}
	return err
}

func (c *Client) zoneRuntime() *store {
	zone := c.cfg.Zone
	return &store{
		desc: "runtime zone " + zone, alreadyCode: CodeZoneAlreadySet,
		list: func(ctx context.Context) (out []string, err error) {
			err = c.call(ctx, ObjectPath, InterfaceZone+".getSources", []any{&out}, zone)
			return out, err
		},
		add: func(ctx context.Context, s string) error {
			var z string
			return c.call(ctx, ObjectPath, InterfaceZone+".addSource", []any{&z}, zone, s)
		},
		remove: func(ctx context.Context, s string) error {
			var z string
			return idempotent(c.call(ctx, ObjectPath, InterfaceZone+".removeSource", []any{&z}, zone, s), CodeUnknownSource, CodeNotEnabled)
		},
	}
}

func (c *Client) zonePermanent(path dbus.ObjectPath) *store {
	return &store{
		desc: "permanent zone " + c.cfg.Zone,
		list: func(ctx context.Context) (out []string, err error) {
			err = c.call(ctx, path, InterfaceConfigZone+".getSources", []any{&out})
			return out, err
		},
		add: func(ctx context.Context, s string) error {
			return idempotent(c.call(ctx, path, InterfaceConfigZone+".addSource", nil, s), CodeAlreadyEnabled)
		},
		remove: func(ctx context.Context, s string) error {
			return idempotent(c.call(ctx, path, InterfaceConfigZone+".removeSource", nil, s), CodeNotEnabled)
		},
	}
}

func (c *Client) ipsetRuntime(fam string) *store {
	name := c.setName(fam)
	return &store{
		desc: "runtime ipset " + name, family: fam, nested: true,
		list: func(ctx context.Context) (out []string, err error) {
			err = c.call(ctx, ObjectPath, InterfaceIPSet+".getEntries", []any{&out}, name)
			return out, err
		},
		add: func(ctx context.Context, s string) error {
			return idempotent(c.call(ctx, ObjectPath, InterfaceIPSet+".addEntry", nil, name, s), CodeAlreadyEnabled)
		},
		remove: func(ctx context.Context, s string) error {
			return idempotent(c.call(ctx, ObjectPath, InterfaceIPSet+".removeEntry", nil, name, s), CodeNotEnabled)
		},
		replace: func(ctx context.Context, es []string) error {
			return c.call(ctx, ObjectPath, InterfaceIPSet+".setEntries", nil, name, es)
		},
	}
}

func (c *Client) ipsetPermanent(fam string, path dbus.ObjectPath) *store {
	name := c.setName(fam)
	return &store{
		desc: "permanent ipset " + name, family: fam, nested: true,
		list: func(ctx context.Context) (out []string, err error) {
			err = c.call(ctx, path, InterfaceConfigIPSet+".getEntries", []any{&out})
			return out, err
		},
		add: func(ctx context.Context, s string) error {
			return idempotent(c.call(ctx, path, InterfaceConfigIPSet+".addEntry", nil, s), CodeAlreadyEnabled)
		},
		remove: func(ctx context.Context, s string) error {
			return idempotent(c.call(ctx, path, InterfaceConfigIPSet+".removeEntry", nil, s), CodeNotEnabled)
		},
		replace: func(ctx context.Context, es []string) error {
			return c.call(ctx, path, InterfaceConfigIPSet+".setEntries", nil, es)
		},
	}
}

// ofFamily returns the prefixes a store holds: all for a zone, one family
// for an ipset.
func (st *store) ofFamily(ps []netip.Prefix) []netip.Prefix {
	if st.family == "" {
		return ps
	}
	var out []netip.Prefix
	for _, p := range ps {
		if prefix.Family(p.Addr()) == st.family {
			out = append(out, p)
		}
	}
	return out
}

// contents is what a store holds: the canonical prefixes (an entry counts
// only if firewalld's string is exactly the canonical form, as the Client
// writes it; ipset entries are normalised by firewalld, so those are parsed)
// and the rest, which is never touched.
type contents struct {
	prefixes map[netip.Prefix]string // prefix -> firewalld's string
	other    []string
}

func (st *store) read(ctx context.Context) (contents, error) {
	raw, err := st.list(ctx)
	if err != nil {
		return contents{}, fmt.Errorf("list %s: %w", st.desc, err)
	}
	ct := contents{prefixes: make(map[netip.Prefix]string, len(raw))}
	for _, s := range raw {
		p, ok := parseEntry(s, st.nested)
		if !ok {
			ct.other = append(ct.other, s)
			continue
		}
		ct.prefixes[p] = s
	}
	return ct, nil
}

// parseEntry parses a zone source or ipset entry. A zone source counts only
// in exact canonical form: firewalld keeps 198.51.100.33/27 as given, and
// removing 198.51.100.32/27 would not remove it.
func parseEntry(s string, normalised bool) (netip.Prefix, bool) {
	var p netip.Prefix
	if strings.Contains(s, "/") {
		var err error
		if p, err = netip.ParsePrefix(s); err != nil {
			return netip.Prefix{}, false
		}
	} else {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Prefix{}, false
		}
		p = netip.PrefixFrom(a, a.BitLen())
	}
	cp := prefix.Canonical(p)
	if !cp.IsValid() {
		return netip.Prefix{}, false
	}
	if !normalised && cp.String() != s {
		return netip.Prefix{}, false
	}
	return cp, true
}

// collapse returns ps sorted without duplicates and without any prefix that
// lies inside another: firewalld refuses overlapping ipset entries, and the
// outer entry blocks the inner range anyway.
func collapse(ps []netip.Prefix) []netip.Prefix {
	s := slices.Clone(ps)
	slices.SortFunc(s, prefix.Compare)
	out := s[:0]
	for _, p := range s {
		if n := len(out); n > 0 && out[n-1].Bits() <= p.Bits() && out[n-1].Contains(p.Addr()) {
			continue
		}
		out = append(out, p)
	}
	return out
}

// change is what converge did to one store.
type change struct {
	added, removed int
	// refused are the prefixes whose add or remove firewalld refused, with
	// its answer; the store's other changes went through.
	refused map[netip.Prefix]error
	// already are the adds firewalld answered with the store's alreadyCode:
	// someone else put the prefix there first.
	already map[netip.Prefix]bool
}

// wholeCall reports whether err is about firewalld as a whole (it did not
// answer, the zone or set is gone, a local failure) rather than about the
// one prefix of the call: only those fail a Backend call.
func wholeCall(err error) bool {
	if IsUnavailable(err) {
		return true
	}
	switch code := Code(err); code {
	case "", CodeInvalidZone, CodeInvalidIPSet, CodeNotRunning:
		return true
	default:
		// A D-Bus error name (AccessDenied, say) rather than firewalld's code.
		return strings.Contains(code, ".")
	}
}

// converge makes the store hold target among its prefixes, keeping the
// entries it cannot parse. Removals go first so that additions never
// overlap a leaving entry. A large change to an ipset is one replace; if
// firewalld refuses it for an entry's sake, single calls find which. A
// refused prefix is recorded and the others go on; only a wholeCall error
// stops it.
func (st *store) converge(ctx context.Context, ct contents, target []netip.Prefix) (change, error) {
	ch := change{refused: map[netip.Prefix]error{}, already: map[netip.Prefix]bool{}}
	want := make(map[netip.Prefix]struct{}, len(target))
	var adds []netip.Prefix
	for _, p := range target {
		want[p] = struct{}{}
		if _, ok := ct.prefixes[p]; !ok {
			adds = append(adds, p)
		}
	}
	var dels []netip.Prefix
	for p := range ct.prefixes {
		if _, ok := want[p]; !ok {
			dels = append(dels, p)
		}
	}
	if len(adds) == 0 && len(dels) == 0 {
		return ch, nil
	}
	slices.SortFunc(adds, prefix.Compare)
	slices.SortFunc(dels, prefix.Compare)
	if st.replace != nil && len(adds)+len(dels) > bulkThreshold {
		es := make([]string, 0, len(target)+len(ct.other))
		es = append(es, ct.other...)
		for _, p := range target {
			es = append(es, p.String())
		}
		err := st.replace(ctx, es)
		if err == nil {
			ch.added, ch.removed = len(adds), len(dels)
			return ch, nil
		}
		if wholeCall(err) {
			return ch, fmt.Errorf("set %d entries of %s: %w", len(es), st.desc, err)
		}
		// One entry spoiled the batch: find it by single calls.
	}
	for _, p := range dels {
		if err := st.remove(ctx, ct.prefixes[p]); err != nil {
			if wholeCall(err) {
				return ch, fmt.Errorf("remove %s from %s: %w", p, st.desc, err)
			}
			ch.refused[p] = err
			continue
		}
		ch.removed++
	}
	for _, p := range adds {
		if err := st.add(ctx, p.String()); err != nil {
			switch {
			case st.alreadyCode != "" && IsCode(err, st.alreadyCode):
				ch.already[p] = true
			case wholeCall(err):
				return ch, fmt.Errorf("add %s to %s: %w", p, st.desc, err)
			default:
				ch.refused[p] = err
			}
			continue
		}
		ch.added++
	}
	return ch, nil
}

// current returns the prefixes of ct as a slice.
func (ct contents) current() []netip.Prefix {
	out := make([]netip.Prefix, 0, len(ct.prefixes))
	for p := range ct.prefixes {
		out = append(out, p)
	}
	return out
}

// targetAdd is the store's content after adding ps.
func (st *store) targetAdd(ct contents, ps []netip.Prefix) []netip.Prefix {
	t := append(ct.current(), ps...)
	if st.nested {
		return collapse(t)
	}
	return t
}

// targetRemove is the store's content after removing ps (exact entries).
func (st *store) targetRemove(ct contents, ps []netip.Prefix) []netip.Prefix {
	drop := make(map[netip.Prefix]struct{}, len(ps))
	for _, p := range ps {
		drop[p] = struct{}{}
	}
	var t []netip.Prefix
	for p := range ct.prefixes {
		if _, ok := drop[p]; !ok {
			t = append(t, p)
		}
	}
	return t
}

// targetSync keeps what is neither owned nor desired, drops owned prefixes
// that are not desired and adds every desired one.
func (st *store) targetSync(ct contents, desired, owned []netip.Prefix) []netip.Prefix {
	want := make(map[netip.Prefix]struct{}, len(desired))
	for _, p := range desired {
		want[p] = struct{}{}
	}
	var gone []netip.Prefix
	for _, p := range owned {
		if _, ok := want[p]; !ok {
			gone = append(gone, p)
		}
	}
	return st.targetAdd(contents{prefixes: toMap(st.targetRemove(ct, gone))}, desired)
}

func toMap(ps []netip.Prefix) map[netip.Prefix]string {
	m := make(map[netip.Prefix]string, len(ps))
	for _, p := range ps {
		m[p] = p.String()
	}
	return m
}
