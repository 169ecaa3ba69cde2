package policy

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/synguard/synguard/internal/origin"
	"github.com/synguard/synguard/internal/prefix"
)

// FuzzAdmit feeds arbitrary alerts and view states through Admit and
// AdmitRequest and checks the safety rules hold for every decision: what is
// blocked is canonical, no broader than the minimum length, overlaps no
// allowlisted range or own address, ends in the future within the maximum
// duration; nothing is blocked while paused, beyond the cap, or without a
// token of the rate limit; every refusal has a known reason.
// go test ./internal/policy -run '^$' -fuzz FuzzAdmit -fuzztime 10m
func FuzzAdmit(f *testing.F) {
	for _, s := range []struct {
		pfx, host, scope, action string
		firing, paused, active   bool
		count, tokens, off       int
	}{
		{"198.51.100.33/27", "mx1", "", "block", true, false, false, 0, 1, 0},
		{"198.51.100.32/27", "mx2", "fleet", "block", true, false, true, 3, 1, 2},
		{"0.0.0.0/0", "", "", "block", true, false, false, 0, 1, 0},
		{"::ffff:198.51.100.33/123", "mx1", "", "block", false, true, true, 9, 0, 9},
		{"2001:db8:5::/64", "", "", "page", true, false, false, 10000, 5, 40},
		{"192.0.2.1", "", "", "block", true, false, false, 0, 1, 1},
		{"fe80::1/128", "", "", "block", true, false, false, 0, 1, 1},
		{"", "", "", "", false, false, false, 0, 0, 0},
	} {
		f.Add(s.pfx, s.host, s.scope, s.action, s.firing, s.paused, s.active, s.count, s.tokens, s.off)
	}
	c := Default()
	c.Allow = prefix.NewSet(netip.MustParsePrefix("192.0.2.0/24"))
	c.Host, c.MaxActive, c.LiftOnResolve = "mx1", 10, true
	c.Origin.NeverCountries = []string{"ZZ"}
	own := prefix.NewSet(netip.MustParsePrefix("203.0.113.10/32"))
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, pfx, host, scope, action string, firing, paused, active bool, count, tokens, off int) {
		v := &fakeView{now: now, paused: paused, active: count, own: own, tokens: tokens,
			current: map[netip.Prefix]Current{}, origins: map[netip.Prefix]origin.Info{}}
		if p, err := prefix.Parse(pfx); err == nil {
			v.current[p] = Current{Prefix: p, Active: active, FromAlert: true, Since: now.Add(-time.Hour),
				Expiry: now.Add(time.Hour), Offences: max(0, off%100), LastLifted: now.Add(-time.Duration(off) * time.Hour)}
			if off%3 == 0 {
				v.origins[p] = origin.Info{Country: "ZZ"}
			}
		}
		a := Alert{Firing: firing, Labels: map[string]string{"alertname": "X", "action": action, "prefix": pfx, "host": host, "scope": scope}}
		check := func(what string, d Decision, tokensBefore int) {
			switch d.Verdict {
			case Refuse:
				if !slices.Contains(Reasons, d.Reason) {
					t.Fatalf("%s: refused with unknown reason %q", what, d.Reason)
				}
			case Block, Extend:
				p := d.Prefix
				if p != prefix.Canonical(p) || !p.IsValid() {
					t.Fatalf("%s: blocks non-canonical %v", what, p)
				}
				min := c.MinLength.IPv6
				if p.Addr().Is4() {
					min = c.MinLength.IPv4
				}
				if p.Bits() < min {
					t.Fatalf("%s: blocks %v, broader than /%d", what, p, min)
				}
				if c.Allowlisted(p, own) {
					t.Fatalf("%s: blocks allowlisted %v", what, p)
				}
				if !d.Expiry.After(now) {
					t.Fatalf("%s: a block of %v ending at %v, not after now", what, p, d.Expiry)
				}
				if d.Verdict == Block && v.active >= c.MaxActive {
					t.Fatalf("%s: a new block beyond the cap (%d active)", what, v.active)
				}
			}
		}
		before := v.tokens
		d := c.Admit(a, v)
		check("Admit", d, before)
		if d.Verdict == Block {
			if paused {
				t.Fatal("Admit blocked while paused")
			}
			if before <= 0 {
				t.Fatal("Admit blocked without a rate-limit token")
			}
			if d.Expiry.Sub(now) > c.MaxDuration {
				t.Fatalf("Admit blocked for %v, over the maximum %v", d.Expiry.Sub(now), c.MaxDuration)
			}
			if c.Selects(a) != ReasonNone || !firing {
				t.Fatalf("Admit blocked an alert it does not select (firing %v)", firing)
			}
		}
		if p, err := prefix.Parse(pfx); err == nil {
			check("AdmitRequest", c.AdmitRequest(p, time.Duration(off)*time.Minute, v), v.tokens)
		}
	})
}
