package policy

import (
	"fmt"
	"net/netip"
	"slices"

	"github.com/synguard/synguard/internal/prefix"
)

// Widening answers prefixes that rotate inside one range (IPv6 /64s inside
// one /48, /27s or single addresses inside one /24): blocked one by one they
// fill the cap on active blocks, after which nothing more is blocked. When
// MinBlocks active alert blocks lie inside one prefix of Length, that prefix
// is blocked instead and they are lifted.
type Widening struct {
	// MinBlocks is how many active alert blocks inside one wider prefix
	// make it blocked whole; 0 turns widening off.
	MinBlocks int
	// Length is the wider prefix's length per family: never broader than
	// the minimum prefix length.
	Length prefix.Lengths
}

// DefaultWidening is off, with the lengths it uses once MinBlocks is set:
// those of the default minimum prefix length.
var DefaultWidening = Widening{Length: prefix.Lengths{IPv4: 24, IPv6: 48}}

// validate reports a widening that could block broader than minLength or
// widen a single block.
func (w Widening) validate(minLength prefix.Lengths) error {
	if w.MinBlocks == 0 {
		return nil
	}
	if w.MinBlocks < 2 {
		return fmt.Errorf("widen: min_blocks must be 0 (off) or at least 2, got %d", w.MinBlocks)
	}
	if err := w.Length.Validate(); err != nil {
		return fmt.Errorf("widen: %w", err)
	}
	if w.Length.IPv4 < minLength.IPv4 || w.Length.IPv6 < minLength.IPv6 {
		return fmt.Errorf("widen: ipv4 /%d and ipv6 /%d must be no broader than the minimum prefix length (ipv4 /%d, ipv6 /%d)",
			w.Length.IPv4, w.Length.IPv6, minLength.IPv4, minLength.IPv6)
	}
	return nil
}

// Reasons Widen gives for not widening. They are not refusals of an alert
// (the alert's own block stands), so they are not in Reasons.
const (
	// ReasonWidenOff: widening is not configured (min_blocks 0).
	ReasonWidenOff Reason = "widen_off"
	// ReasonNotNarrower: the prefix is already as broad as the widening
	// length.
	ReasonNotNarrower Reason = "not_narrower"
	// ReasonAlreadyBlocked: the wider prefix is blocked already (by an
	// operator, or widened before).
	ReasonAlreadyBlocked Reason = "already_blocked"
	// ReasonTooFew: fewer than MinBlocks alert blocks lie inside the wider
	// prefix.
	ReasonTooFew Reason = "too_few"
)

// wider returns the prefix of the widening length holding p.
func (c *Config) wider(p netip.Prefix) netip.Prefix {
	bits := c.Widening.Length.IPv6
	if p.Addr().Is4() {
		bits = c.Widening.Length.IPv4
	}
	return netip.PrefixFrom(p.Addr(), min(bits, p.Bits())).Masked()
}

// Widen decides whether the alert block of p (made just now, or refused for
// the cap) is better blocked as the wider prefix holding it: when at least
// MinBlocks active alert blocks, p counted among them, lie inside a wider
// prefix that policy allows (no broader than the minimum length, no overlap
// with the allowlist or the host's own addresses, its origin allowed, not
// blocked already). The Decision then blocks the wider prefix (Verdict
// Widen) until the latest expiry of the blocks it covers, with their
// highest offence count (never below what the wider prefix itself
// remembers), and Covered lists the active blocks to lift. Operators'
// blocks are neither counted nor covered: they stay as they are. Any other
// outcome is Ignore, with the Reason.
func (c *Config) Widen(p netip.Prefix, v View) Decision {
	p = prefix.Canonical(p)
	no := func(r Reason, w netip.Prefix) Decision { return Decision{Verdict: Ignore, Reason: r, Prefix: w} }
	if c.Widening.MinBlocks == 0 {
		return no(ReasonWidenOff, p)
	}
	if v.Paused() {
		return no(ReasonPaused, p)
	}
	w := c.wider(p)
	if w.Bits() >= p.Bits() {
		return no(ReasonNotNarrower, p)
	}
	if r := c.Check(w, v.Own()); r != ReasonNone {
		return no(r, w)
	}
	cur, exists := v.Current(w)
	if exists && cur.Active {
		return no(ReasonAlreadyBlocked, w)
	}
	org := v.Origin(w)
	if r := c.CheckOrigin(org); r != ReasonNone {
		return no(r, w)
	}
	d := Decision{Verdict: Widen, Prefix: w, Origin: org, DryRun: c.DryRun}
	if exists {
		d.Offences = cur.Offences
	}
	count := 0
	withP := false
	for _, b := range v.Within(w) {
		if !b.Active || !b.FromAlert || b.Prefix.Bits() <= w.Bits() || !w.Contains(b.Prefix.Addr()) {
			continue
		}
		count++
		withP = withP || b.Prefix == p
		d.Covered = append(d.Covered, b.Prefix)
		d.Offences = max(d.Offences, b.Offences)
		if b.Expiry.After(d.Expiry) {
			d.Expiry = b.Expiry
		}
	}
	if !withP {
		count++ // p, refused for the cap, is not blocked yet
	}
	if count < c.Widening.MinBlocks || len(d.Covered) == 0 {
		return no(ReasonTooFew, w)
	}
	d.Offences = max(d.Offences, 1)
	slices.SortFunc(d.Covered, prefix.Compare)
	return d
}

// coveredByWidened reports whether an active block made by widening holds
// p: an alert for p then changes nothing, and blocking p as well would only
// fill the cap again with what the wider block drops already.
// At most one lookup per shorter length (128 for an IPv6 /128).
func (c *Config) coveredByWidened(p netip.Prefix, v View) bool {
	for bits := p.Bits() - 1; bits >= 0; bits-- {
		if cur, ok := v.Current(netip.PrefixFrom(p.Addr(), bits).Masked()); ok && cur.Active && cur.Widened {
			return true
		}
	}
	return false
}
