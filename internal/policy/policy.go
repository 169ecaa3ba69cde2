package policy

import (
	"fmt"
	"math"
	"net/netip"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/synguard/synguard/internal/origin"
	"github.com/synguard/synguard/internal/prefix"
)

// Label names with a meaning to the responder besides the configured prefix
// label.
const (
	// LabelHost is the default name of the label that names the host a
	// host-scoped alert is for (Config.HostLabel; the mixin's
	// _config.hostLabel).
	LabelHost = "host"
	// LabelScope is "fleet" on alerts that apply on every host.
	LabelScope = "scope"
	// ScopeFleet is the LabelScope value of a fleet-wide alert.
	ScopeFleet = "fleet"
	// LabelAlertName is Prometheus's alert name label.
	LabelAlertName = "alertname"
)

// Config is the responder's policy. The zero value is not useful: start from
// Default.
type Config struct {
	// PrefixLabel is the alert label that carries the prefix to block.
	PrefixLabel string
	// Match selects alerts whose labels equal these values.
	Match map[string]string
	// MatchRE selects alerts whose labels fully match these expressions.
	MatchRE map[string]*regexp.Regexp
	// Host is this responder's host name; "" accepts host-scoped alerts for
	// any host (a single-host set-up).
	Host string
	// HostLabel is the alert label that names the host (LabelHost when
	// empty): the same name as the mixin's _config.hostLabel.
	HostLabel string
	// MinLength is the shortest (broadest) prefix length blocked per family.
	MinLength prefix.Lengths
	// Allow holds the configured ranges never blocked; prefix.AlwaysAllowed
	// and the host's own addresses are checked besides it.
	Allow *prefix.Set
	// MaxActive caps the number of active blocks.
	MaxActive int
	// RatePerMinute and Burst bound how fast new blocks are made from alerts.
	RatePerMinute float64
	Burst         int
	// BaseDuration is a first offence's block; each further offence
	// multiplies it by Factor, up to MaxDuration.
	BaseDuration time.Duration
	Factor       float64
	MaxDuration  time.Duration
	// OffenceMemory is how long after a block ends its offences still count.
	OffenceMemory time.Duration
	// LiftOnResolve lifts an alert's block when the alert resolves, but not
	// before MinHold after the block began.
	LiftOnResolve bool
	MinHold       time.Duration
	// DryRun decides and counts but changes nothing.
	DryRun bool
	// Origin limits automatic blocks by the prefix's AS and country (the
	// runbook's "is it foreign, does it have business here"). It applies to
	// alerts only: an operator's request is the operator's own judgement.
	Origin origin.Filter
	// Widening blocks a wider prefix in place of many alert blocks inside
	// it (Widen); off unless MinBlocks is set.
	Widening Widening
}

// Default returns the defaults a mail-server operator would want: the
// runbook's /27 blocks are allowed, nothing broader than a /24 (IPv4) or a
// /48 (IPv6); an hour for a first offence, four times longer for each repeat,
// at most a week.
func Default() Config {
	return Config{
		PrefixLabel:   "prefix",
		Match:         map[string]string{"action": "block"},
		MinLength:     prefix.Lengths{IPv4: 24, IPv6: 48},
		Allow:         prefix.NewSet(),
		MaxActive:     10000,
		RatePerMinute: 120,
		Burst:         500,
		BaseDuration:  time.Hour,
		Factor:        4,
		MaxDuration:   7 * 24 * time.Hour,
		OffenceMemory: 30 * 24 * time.Hour,
		MinHold:       time.Hour,
		Widening:      DefaultWidening,
	}
}

// Validate reports a policy that could block what it must not or never
// lift a block.
func (c *Config) Validate() error {
	if c.PrefixLabel == "" {
		return fmt.Errorf("prefix label must not be empty")
	}
	if err := c.MinLength.Validate(); err != nil {
		return fmt.Errorf("minimum prefix length: %w", err)
	}
	// A label must never be able to ask for a /8 or broader.
	if c.MinLength.IPv4 < 9 || c.MinLength.IPv6 < 9 {
		return fmt.Errorf("minimum prefix length must be at least /9 for both families (got ipv4 /%d, ipv6 /%d)", c.MinLength.IPv4, c.MinLength.IPv6)
	}
	if c.MaxActive < 1 {
		return fmt.Errorf("max active blocks must be at least 1")
	}
	if c.RatePerMinute <= 0 || c.Burst < 1 {
		return fmt.Errorf("rate limit must be positive with a burst of at least 1")
	}
	if c.BaseDuration <= 0 || c.MaxDuration < c.BaseDuration {
		return fmt.Errorf("block duration must be positive and at most the maximum duration")
	}
	if c.Factor < 1 {
		return fmt.Errorf("escalation factor must be at least 1")
	}
	if c.OffenceMemory < 0 || c.MinHold < 0 {
		return fmt.Errorf("offence memory and minimum hold must not be negative")
	}
	return c.Widening.validate(c.MinLength)
}

// Alert is what policy needs of an Alertmanager alert.
type Alert struct {
	Firing bool
	Labels map[string]string
	// Summary is the alert's summary annotation, kept as a block's reason.
	Summary string
}

// MaxText bounds every string taken from a request and kept (an alert's
// labels and summary, an operator's reason): they go to the state file, the
// status page and the audit log, and an unauthenticated sender must not be
// able to grow any of them.
const MaxText = 256

// Clip returns s cut to at most MaxText bytes, on a rune boundary, marked
// with an ellipsis when cut.
func Clip(s string) string {
	if len(s) <= MaxText {
		return s
	}
	cut := MaxText - len("…")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return strings.ToValidUTF8(s[:cut], "") + "…"
}

// Bounded returns a copy of a whose label values and summary are clipped
// (Clip): what a notification of megabytes keeps of an alert is a few
// hundred bytes a label.
func (a Alert) Bounded() Alert {
	l := make(map[string]string, len(a.Labels))
	for k, v := range a.Labels {
		l[Clip(k)] = Clip(v)
	}
	return Alert{Firing: a.Firing, Labels: l, Summary: Clip(a.Summary)}
}

// Name returns the alert's alertname label.
func (a Alert) Name() string { return a.Labels[LabelAlertName] }

// Selects reports whether the alert is meant for this responder: it matches
// the matchers and is either fleet-scoped or for this host.
func (c *Config) Selects(a Alert) Reason {
	for k, v := range c.Match {
		if a.Labels[k] != v {
			return ReasonUnmatched
		}
	}
	for k, re := range c.MatchRE {
		if !re.MatchString(a.Labels[k]) {
			return ReasonUnmatched
		}
	}
	if a.Labels[LabelScope] == ScopeFleet {
		return ReasonNone
	}
	if h, ok := a.Labels[c.HostLabelName()]; ok && c.Host != "" && h != c.Host {
		return ReasonOtherHost
	}
	return ReasonNone
}

// HostLabelName returns the label that names an alert's host.
func (c *Config) HostLabelName() string {
	if c.HostLabel == "" {
		return LabelHost
	}
	return c.HostLabel
}

// AlertPrefix returns the canonical prefix an alert names.
func (c *Config) AlertPrefix(a Alert) (netip.Prefix, Reason) {
	s, ok := a.Labels[c.PrefixLabel]
	if !ok || s == "" {
		return netip.Prefix{}, ReasonNoPrefix
	}
	p, err := prefix.Parse(s)
	if err != nil {
		return netip.Prefix{}, ReasonBadPrefix
	}
	return p, ReasonNone
}

// Check reports whether a canonical prefix may be blocked at all: not
// broader than the minimum length, not overlapping the always-allowed
// ranges, the configured allowlist or own (the host's addresses). The
// allowlist wins over everything, an operator's request included.
func (c *Config) Check(p netip.Prefix, own *prefix.Set) Reason {
	p = prefix.Canonical(p)
	if !p.IsValid() {
		return ReasonBadPrefix
	}
	min := c.MinLength.IPv6
	if p.Addr().Is4() {
		min = c.MinLength.IPv4
	}
	if p.Bits() < min {
		return ReasonTooBroad
	}
	if c.Allowlisted(p, own) {
		return ReasonAllowlisted
	}
	return ReasonNone
}

// Allowlisted reports whether p overlaps the always-allowed ranges, the
// configured allowlist or own: what may never stay blocked, whatever its
// length.
func (c *Config) Allowlisted(p netip.Prefix, own *prefix.Set) bool {
	for _, s := range []*prefix.Set{prefix.AlwaysAllowed, c.Allow, own} {
		if _, hit := s.Overlaps(p); hit {
			return true
		}
	}
	return false
}

// CheckOrigin reports whether a prefix of origin i may be blocked
// automatically.
func (c *Config) CheckOrigin(i origin.Info) Reason {
	return Reason(c.Origin.Check(i))
}

// Offences returns the offence number of a new block of a prefix that had
// prev offences, the last of them ending at lastLifted: offences older than
// OffenceMemory are forgotten.
func (c *Config) Offences(prev int, lastLifted, now time.Time) int {
	if prev > 0 && c.OffenceMemory > 0 && now.Sub(lastLifted) > c.OffenceMemory {
		prev = 0
	}
	return prev + 1
}

// Duration returns how long the n-th offence (1-based) is blocked:
// BaseDuration * Factor^(n-1), at most MaxDuration.
func (c *Config) Duration(n int) time.Duration {
	if n < 1 {
		n = 1
	}
	d := float64(c.BaseDuration) * math.Pow(c.Factor, float64(n-1))
	if d >= float64(c.MaxDuration) || math.IsInf(d, 0) || math.IsNaN(d) {
		return c.MaxDuration
	}
	return time.Duration(d)
}

// ResolvedExpiry returns the expiry of a block whose alert resolved at now:
// unchanged unless LiftOnResolve, otherwise the later of now and
// since+MinHold, but never later than the current expiry.
func (c *Config) ResolvedExpiry(since, expiry, now time.Time) time.Time {
	if !c.LiftOnResolve {
		return expiry
	}
	t := since.Add(c.MinHold)
	if t.Before(now) {
		t = now
	}
	if t.After(expiry) {
		return expiry
	}
	return t
}
