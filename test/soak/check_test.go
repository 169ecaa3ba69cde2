package soak

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/synguard/synguard/internal/lab"
)

// settleAndCheck waits until the responder has settled (its API answers,
// the backend is up, no block is pending) and checks the invariant; it
// reports whether both held.
func (c *campaign) settleAndCheck() bool {
	start := time.Now()
	var st state
	var err error
	for deadline := start.Add(settleWithin); ; time.Sleep(250 * time.Millisecond) {
		st, err = c.r.state()
		if err == nil && st.up && len(st.pending) == 0 {
			break
		}
		if !c.r.running() {
			c.violate("the responder exited: %s", oneLine(c.r.tail(5)))
			if err := c.r.start(startWithin); err != nil {
				c.t.Fatalf("seed %d: the responder exited and does not start again: %v\n%s\nresponder:\n%s", seedOf(c.t), err, c.log, c.r.tail(60))
			}
			continue
		}
		if time.Now().After(deadline) {
			c.counts.Checks++
			c.violate("not settled within %s: %s (err %v)", settleWithin, st, err)
			return false
		}
	}
	c.last = st
	c.counts.Checks++
	var why string
	attempts := 0
	for deadline := time.Now().Add(checkWindow); ; time.Sleep(200 * time.Millisecond) {
		attempts++
		why = c.checkOnce()
		if why == "" || time.Now().After(deadline) {
			break
		}
	}
	if why != "" {
		c.violate("invariant after settling (%s): %s", time.Since(start).Round(time.Millisecond), why)
		return false
	}
	c.log.Add("check %d ok: settled in %s, %d active, %d operator's, %d attempt(s)",
		c.counts.Checks, time.Since(start).Round(time.Millisecond), len(c.last.active), len(c.operator), attempts)
	return true
}

// checkOnce compares the firewall with the responder's state once; it
// returns why they differ, or "". The state is read before and after the
// firewall: if it changed meanwhile (an expiry), the comparison is void.
func (c *campaign) checkOnce() string {
	before, err := c.r.state()
	if err != nil {
		return fmt.Sprintf("state: %v", err)
	}
	h, err := c.fw.read()
	if err != nil {
		return fmt.Sprintf("read the firewall: %v", err)
	}
	after, err := c.r.state()
	if err != nil {
		return fmt.Sprintf("state: %v", err)
	}
	if !slices.Equal(before.active, after.active) {
		return fmt.Sprintf("the state changed while the firewall was read (%v -> %v)", before.active, after.active)
	}
	c.last = after
	if why := c.compare(after, h); why != "" {
		return why
	}
	why := c.traffic(after)
	if why == "" {
		return ""
	}
	// Connections take a moment: an expiry meanwhile that changes what
	// the probes should see voids them.
	again, err := c.r.state()
	if err != nil {
		return fmt.Sprintf("state: %v", err)
	}
	if probeCover(again.active) != probeCover(after.active) {
		return "the state changed while probing: " + why
	}
	return why
}

// probeCover says which probe addresses prefixes cover.
func probeCover(ps []netip.Prefix) string {
	c := CoverOf(ps...)
	var b strings.Builder
	for _, a := range probes {
		fmt.Fprint(&b, c.Contains(a))
	}
	return b.String()
}

// compare is the invariant on what the firewall holds.
func (c *campaign) compare(st state, h held) string {
	var problems []string
	active := sortedPrefixes(st.active)
	for _, p := range active {
		if HostileRange.Overlaps(p) {
			problems = append(problems, fmt.Sprintf("active block %v came from a hostile request", p))
		}
	}
	// The operator's sources are never removed, in every setup.
	for _, p := range c.operator {
		if !slices.Contains(h.zone, p) {
			problems = append(problems, fmt.Sprintf("the operator's own drop source %v is gone", p))
		}
	}
	want := CoverOf(active...)
	switch {
	case c.s.backend == "firewalld" && c.s.mode == "zone":
		// One source per block, and besides them only the operator's.
		exp := sortedPrefixes(append(slices.Clone(active), c.operator...))
		if got := sortedPrefixes(h.zone); !slices.Equal(got, exp) {
			problems = append(problems, fmt.Sprintf("drop zone sources %v, want active %v + operator's %v (extra %v, missing %v)",
				got, active, c.operator, minus(got, exp), minus(exp, got)))
		}
		if len(h.other) > 0 {
			problems = append(problems, fmt.Sprintf("drop zone holds %v besides prefixes", h.other))
		}
	default:
		// The responder's entries are its own (ipsets, table): exactly
		// the addresses of the active blocks, each ipset entry one of them
		// (a narrower block inside a wider one may be left to the wider).
		if !h.cover.Equal(want) {
			problems = append(problems, fmt.Sprintf("the backend drops %v, the active blocks are %v (entries %v, active %v)", h.cover, want, h.entries, active))
		}
		if c.s.backend == "firewalld" {
			for _, p := range h.entries {
				if !slices.Contains(active, p) {
					problems = append(problems, fmt.Sprintf("ipset entry %v is no active block", p))
				}
			}
		}
		if got := sortedPrefixes(h.zone); !slices.Equal(got, sortedPrefixes(c.operator)) {
			problems = append(problems, fmt.Sprintf("drop zone sources %v, want only the operator's %v", got, c.operator))
		}
	}
	// Nothing lifted is still dropped: of every prefix ever asked for that
	// is not active now, no address outside the active blocks and the
	// operator's sources may be in the firewall.
	allowed := CoverOf(append(slices.Clone(active), c.operator...)...)
	fwCover := h.cover
	if c.s.backend == "firewalld" && c.s.mode == "zone" {
		fwCover = CoverOf(h.zone...)
	}
	var still []string
	for _, p := range sortedPrefixes(c.asked) {
		if slices.Contains(active, p) {
			continue
		}
		for _, a := range []netip.Addr{spanOf(p).first, spanOf(p).last} {
			if fwCover.Contains(a) && !allowed.Contains(a) {
				still = append(still, p.String())
				break
			}
		}
	}
	if len(still) > 0 {
		problems = append(problems, fmt.Sprintf("lifted but still in the firewall: %v", still))
	}
	return strings.Join(problems, "; ")
}

// traffic checks with real connections from the attacker namespace that
// the lab's probe addresses are dropped exactly when an active block or an
// operator's source covers them.
func (c *campaign) traffic(st state) string {
	dropped := CoverOf(append(slices.Clone(st.active), c.operator...)...)
	var problems []string
	for _, a := range probes {
		conn, err := c.l.Dial(a, probeTimeout)
		if conn != nil {
			conn.Close()
		}
		want := dropped.Contains(a)
		switch {
		case err == nil && want:
			problems = append(problems, fmt.Sprintf("%v connects although %v drops it", a, dropped))
		case err != nil && !want && lab.IsTimeout(err):
			problems = append(problems, fmt.Sprintf("%v is dropped although no active block covers it (lifted, still dropped)", a))
		case err != nil && !lab.IsTimeout(err):
			problems = append(problems, fmt.Sprintf("%v: %v", a, err))
		}
	}
	return strings.Join(problems, "; ")
}

// minus returns what of a is not in b.
func minus(a, b []netip.Prefix) []netip.Prefix {
	var out []netip.Prefix
	for _, p := range a {
		if !slices.Contains(b, p) {
			out = append(out, p)
		}
	}
	return out
}
