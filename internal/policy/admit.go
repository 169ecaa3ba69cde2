package policy

import (
	"net/netip"
	"time"

	"github.com/synguard/synguard/internal/origin"
	"github.com/synguard/synguard/internal/prefix"
)

// Current is what the policy needs of a prefix's existing record.
type Current struct {
	// Active: the prefix is blocked now.
	Active bool
	// FromAlert: the block (active or last) was made by an alert, not by an
	// operator; a resolved alert never shortens an operator's block.
	FromAlert bool
	// Since and Expiry bound the active (or last) block.
	Since, Expiry time.Time
	// Offences and LastLifted are the prefix's remembered history.
	Offences   int
	LastLifted time.Time
	// Prefix is the record's prefix (as View.Within lists them).
	Prefix netip.Prefix
	// Widened: the block (active or last) was made by widening (Widen).
	Widened bool
}

// View is the read-only world Admit decides in: the current blocks, the
// host's own addresses, origins and the rate limit. The engine implements it
// over its store for the span of one notification, so that blocks admitted
// earlier in the same notification count.
type View interface {
	// Now is the time of the decision.
	Now() time.Time
	// Paused reports the operator's pause switch.
	Paused() bool
	// Current returns the record of p, if any.
	Current(p netip.Prefix) (Current, bool)
	// ActiveCount is the number of active blocks, including those admitted
	// earlier in the same call.
	ActiveCount() int
	// Own returns the host's own addresses (nil: none known).
	Own() *prefix.Set
	// Origin tells who p belongs to; the zero Info when unknown.
	Origin(p netip.Prefix) origin.Info
	// Within returns the active blocks strictly inside w, in no order, for
	// Widen.
	Within(w netip.Prefix) []Current
	// Allow takes a token of the new-block rate limit and reports whether
	// there was one. It is asked last, only for a block that passes every
	// other rule, so that refusals never spend tokens.
	Allow() bool
}

// Verdict is what to do with an alert or request.
type Verdict int

// Verdicts.
const (
	// Refuse: change nothing; Decision.Reason says why.
	Refuse Verdict = iota + 1
	// Block: make a new block of Decision.Prefix until Decision.Expiry.
	Block
	// Extend: an active operator block is asked to reach further: its
	// expiry becomes Decision.Expiry.
	Extend
	// Duplicate: already blocked as asked; nothing changes.
	Duplicate
	// Shorten: a resolved alert moves its block's expiry to
	// Decision.Expiry (lift_on_resolve); the expiry lifts it when due.
	Shorten
	// Ignore: a resolved alert that changes nothing; from Widen, no
	// widening (Decision.Reason says why).
	Ignore
	// Widen: block Decision.Prefix, the wider prefix, until
	// Decision.Expiry, and lift Decision.Covered, the alert blocks inside it.
	Widen
)

// String names the verdict for tests and logs.
func (v Verdict) String() string {
	return [...]string{"invalid", "refuse", "block", "extend", "duplicate", "shorten", "ignore", "widen"}[max(0, min(int(v), 7))]
}

// Decision is the outcome of Admit or AdmitRequest.
type Decision struct {
	Verdict Verdict
	// Reason is set for Refuse, and for Widen's Ignore.
	Reason Reason
	// Prefix is the canonical prefix decided on (invalid when the alert
	// named none that parses).
	Prefix netip.Prefix
	// Expiry is the new expiry of Block, Extend and Shorten.
	Expiry time.Time
	// Offences is the offence number of a Block.
	Offences int
	// Origin is who the prefix belongs to (Block).
	Origin origin.Info
	// DryRun: the policy decides but nothing may change.
	DryRun bool
	// Covered lists the active alert blocks a Widen lifts, sorted.
	Covered []netip.Prefix
}

func refuse(r Reason, p netip.Prefix) Decision {
	return Decision{Verdict: Refuse, Reason: r, Prefix: p}
}

// Admit decides what to do with one alert, in the one order every rule
// applies: pause, matchers and host, the prefix label, minimum length and
// allowlist, origin (firing alerts only), then for a resolved alert
// whether it shortens its block, and for a firing one duplicate (blocked
// already, or inside an active widened block), cap and, last, the rate
// limit.
func (c *Config) Admit(a Alert, v View) Decision {
	if v.Paused() {
		return refuse(ReasonPaused, netip.Prefix{})
	}
	if r := c.Selects(a); r != ReasonNone {
		return refuse(r, netip.Prefix{})
	}
	p, r := c.AlertPrefix(a)
	if r == ReasonNone {
		r = c.Check(p, v.Own())
	}
	if r != ReasonNone {
		return refuse(r, p)
	}
	org := v.Origin(p)
	if a.Firing {
		if r := c.CheckOrigin(org); r != ReasonNone {
			return refuse(r, p)
		}
	}
	cur, exists := v.Current(p)
	now := v.Now()
	if !a.Firing {
		if !exists || !cur.Active || !cur.FromAlert {
			return Decision{Verdict: Ignore, Prefix: p}
		}
		exp := c.ResolvedExpiry(cur.Since, cur.Expiry, now)
		if exp.Equal(cur.Expiry) {
			return Decision{Verdict: Ignore, Prefix: p}
		}
		return Decision{Verdict: Shorten, Prefix: p, Expiry: exp, DryRun: c.DryRun}
	}
	if exists && cur.Active || c.coveredByWidened(p, v) {
		return Decision{Verdict: Duplicate, Prefix: p}
	}
	if v.ActiveCount() >= c.MaxActive {
		return refuse(ReasonCapReached, p)
	}
	if !v.Allow() {
		return refuse(ReasonRateLimited, p)
	}
	off := c.Offences(cur.Offences, cur.LastLifted, now)
	return Decision{Verdict: Block, Prefix: p, Offences: off, Expiry: now.Add(c.Duration(off)), Origin: org, DryRun: c.DryRun}
}

// AdmitRequest decides an operator's request to block p for d (0: the
// policy's duration for its offence number). The minimum length, the
// allowlist and the cap apply as to alerts; pause, matchers, origin and the
// rate limit do not: the request is the operator's own judgement. An active
// block is extended when d reaches further, else it is a duplicate.
func (c *Config) AdmitRequest(p netip.Prefix, d time.Duration, v View) Decision {
	p = prefix.Canonical(p)
	if r := c.Check(p, v.Own()); r != ReasonNone {
		return refuse(r, p)
	}
	now := v.Now()
	cur, exists := v.Current(p)
	if exists && cur.Active {
		if d <= 0 || !now.Add(d).After(cur.Expiry) {
			return Decision{Verdict: Duplicate, Prefix: p}
		}
		return Decision{Verdict: Extend, Prefix: p, Expiry: now.Add(d), DryRun: c.DryRun}
	}
	if v.ActiveCount() >= c.MaxActive {
		return refuse(ReasonCapReached, p)
	}
	off := c.Offences(cur.Offences, cur.LastLifted, now)
	if d <= 0 {
		d = c.Duration(off)
	}
	return Decision{Verdict: Block, Prefix: p, Offences: off, Expiry: now.Add(d), Origin: v.Origin(p), DryRun: c.DryRun}
}
