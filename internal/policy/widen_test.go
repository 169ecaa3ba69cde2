package policy

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/synguard/synguard/internal/origin"
	"github.com/synguard/synguard/internal/prefix"
)

// Within lists fakeView's active records inside w, as the ledger's view
// does over its store.
func (v *fakeView) Within(w netip.Prefix) []Current {
	var out []Current
	for p, c := range v.current {
		if c.Active && p.Bits() > w.Bits() && w.Contains(p.Addr()) {
			c.Prefix = p
			out = append(out, c)
		}
	}
	return out
}

// alertBlocks returns active alert blocks of ps, the i-th expiring i+1
// hours from t0 with i+1 offences.
func alertBlocks(ps ...string) map[netip.Prefix]Current {
	m := map[netip.Prefix]Current{}
	for i, s := range ps {
		m[netip.MustParsePrefix(s)] = Current{Active: true, FromAlert: true, Since: t0, Expiry: t0.Add(time.Duration(i+1) * time.Hour), Offences: i + 1}
	}
	return m
}

func prefixes(ss ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParsePrefix(s)
	}
	return out
}

func TestWiden(t *testing.T) {
	w24 := netip.MustParsePrefix("198.51.100.0/24")
	w48 := netip.MustParsePrefix("2001:db8:5::/48")
	zz := origin.Info{ASN: 64496, ASOrg: "Example Flood Net", Country: "ZZ"}
	three := []string{"198.51.100.0/27", "198.51.100.64/27", "198.51.100.224/27"}
	base := func() Config {
		c := Default()
		allow, _ := prefix.ParseSet([]string{"192.0.2.0/26"})
		c.Allow = allow
		c.Widening.MinBlocks = 3
		return c
	}
	tests := []struct {
		name string
		p    string
		conf func(*Config)
		view func(*fakeView)
		want Decision
	}{
		{name: "widens three /27s to their /24", p: "198.51.100.224/27",
			view: func(v *fakeView) { v.current = alertBlocks(three...) },
			want: Decision{Verdict: Widen, Prefix: w24, Expiry: t0.Add(3 * time.Hour), Offences: 3,
				Covered: prefixes(three...)}},
		{name: "widens IPv6 /64s to their /48", p: "2001:db8:5:7::/64",
			view: func(v *fakeView) {
				v.current = alertBlocks("2001:db8:5:7::/64", "2001:db8:5:1::/64", "2001:db8:5:ffff::/64")
			},
			want: Decision{Verdict: Widen, Prefix: w48, Expiry: t0.Add(3 * time.Hour), Offences: 3,
				Covered: prefixes("2001:db8:5:1::/64", "2001:db8:5:7::/64", "2001:db8:5:ffff::/64")}},
		{name: "counts a prefix the cap refused", p: "198.51.100.128/27",
			view: func(v *fakeView) { v.current = alertBlocks(three[:2]...) },
			want: Decision{Verdict: Widen, Prefix: w24, Expiry: t0.Add(2 * time.Hour), Offences: 2,
				Covered: prefixes(three[:2]...)}},
		{name: "carries the wider prefix's origin", p: "198.51.100.224/27",
			view: func(v *fakeView) {
				v.current = alertBlocks(three...)
				v.origins = map[netip.Prefix]origin.Info{w24: zz}
			},
			want: Decision{Verdict: Widen, Prefix: w24, Expiry: t0.Add(3 * time.Hour), Offences: 3, Origin: zz,
				Covered: prefixes(three...)}},
		{name: "keeps the wider prefix's own offences", p: "198.51.100.224/27",
			view: func(v *fakeView) {
				v.current = alertBlocks(three...)
				v.current[w24] = Current{Offences: 5, LastLifted: t0.Add(-time.Hour), Widened: true, FromAlert: true}
			},
			want: Decision{Verdict: Widen, Prefix: w24, Expiry: t0.Add(3 * time.Hour), Offences: 5,
				Covered: prefixes(three...)}},
		{name: "single addresses widen too", p: "198.51.100.9/32",
			view: func(v *fakeView) { v.current = alertBlocks("198.51.100.7/32", "198.51.100.8/32", "198.51.100.9/32") },
			want: Decision{Verdict: Widen, Prefix: w24, Expiry: t0.Add(3 * time.Hour), Offences: 3,
				Covered: prefixes("198.51.100.7/32", "198.51.100.8/32", "198.51.100.9/32")}},
		{name: "dry run decides", p: "198.51.100.224/27", conf: func(c *Config) { c.DryRun = true },
			view: func(v *fakeView) { v.current = alertBlocks(three...) },
			want: Decision{Verdict: Widen, Prefix: w24, Expiry: t0.Add(3 * time.Hour), Offences: 3,
				Covered: prefixes(three...), DryRun: true}},
		{name: "operator blocks neither count nor are covered", p: "198.51.100.224/27",
			view: func(v *fakeView) {
				v.current = alertBlocks(three...)
				v.current[netip.MustParsePrefix("198.51.100.32/27")] = Current{Active: true, Expiry: t0.Add(99 * time.Hour), Offences: 9}
			},
			want: Decision{Verdict: Widen, Prefix: w24, Expiry: t0.Add(3 * time.Hour), Offences: 3,
				Covered: prefixes(three...)}},

		{name: "off", p: "198.51.100.224/27", conf: func(c *Config) { c.Widening.MinBlocks = 0 },
			view: func(v *fakeView) { v.current = alertBlocks(three...) },
			want: Decision{Verdict: Ignore, Reason: ReasonWidenOff, Prefix: netip.MustParsePrefix("198.51.100.224/27")}},
		{name: "paused", p: "198.51.100.224/27",
			view: func(v *fakeView) { v.current = alertBlocks(three...); v.paused = true },
			want: Decision{Verdict: Ignore, Reason: ReasonPaused, Prefix: netip.MustParsePrefix("198.51.100.224/27")}},
		{name: "not narrower", p: "198.51.100.0/24",
			view: func(v *fakeView) { v.current = alertBlocks(three...) },
			want: Decision{Verdict: Ignore, Reason: ReasonNotNarrower, Prefix: w24}},
		{name: "too few", p: "198.51.100.64/27",
			view: func(v *fakeView) { v.current = alertBlocks(three[:2]...) },
			want: Decision{Verdict: Ignore, Reason: ReasonTooFew, Prefix: w24}},
		{name: "operator blocks do not make up the count", p: "198.51.100.64/27",
			view: func(v *fakeView) {
				v.current = alertBlocks(three[:2]...)
				v.current[netip.MustParsePrefix("198.51.100.32/27")] = Current{Active: true, Expiry: t0.Add(time.Hour)}
			},
			want: Decision{Verdict: Ignore, Reason: ReasonTooFew, Prefix: w24}},
		{name: "lifted blocks do not count", p: "198.51.100.64/27",
			view: func(v *fakeView) {
				v.current = alertBlocks(three[:2]...)
				v.current[netip.MustParsePrefix("198.51.100.32/27")] = Current{FromAlert: true, Offences: 2}
			},
			want: Decision{Verdict: Ignore, Reason: ReasonTooFew, Prefix: w24}},
		{name: "blocks of another /24 do not count", p: "198.51.100.64/27",
			view: func(v *fakeView) { v.current = alertBlocks("198.51.100.0/27", "198.51.100.64/27", "198.51.101.0/27") },
			want: Decision{Verdict: Ignore, Reason: ReasonTooFew, Prefix: w24}},
		{name: "the wider prefix overlaps the allowlist", p: "192.0.2.224/27",
			view: func(v *fakeView) { v.current = alertBlocks("192.0.2.128/27", "192.0.2.160/27", "192.0.2.224/27") },
			want: Decision{Verdict: Ignore, Reason: ReasonAllowlisted, Prefix: netip.MustParsePrefix("192.0.2.0/24")}},
		{name: "the wider prefix holds an own address", p: "203.0.113.224/27",
			view: func(v *fakeView) {
				v.current = alertBlocks("203.0.113.128/27", "203.0.113.160/27", "203.0.113.224/27")
				v.own = prefix.NewSet(netip.MustParsePrefix("203.0.113.10/32"))
			},
			want: Decision{Verdict: Ignore, Reason: ReasonAllowlisted, Prefix: netip.MustParsePrefix("203.0.113.0/24")}},
		{name: "the wider prefix is too broad", p: "198.51.100.224/27", conf: func(c *Config) { c.MinLength.IPv4 = 25 },
			view: func(v *fakeView) { v.current = alertBlocks(three...) },
			want: Decision{Verdict: Ignore, Reason: ReasonTooBroad, Prefix: w24}},
		{name: "the wider prefix's origin is protected", p: "198.51.100.224/27",
			conf: func(c *Config) { c.Origin.NeverCountries = []string{"ZZ"} },
			view: func(v *fakeView) {
				v.current = alertBlocks(three...)
				v.origins = map[netip.Prefix]origin.Info{w24: zz}
			},
			want: Decision{Verdict: Ignore, Reason: ReasonOriginCountryProtected, Prefix: w24}},
		{name: "the wider prefix is blocked already", p: "198.51.100.224/27",
			view: func(v *fakeView) {
				v.current = alertBlocks(three...)
				v.current[w24] = Current{Active: true, Expiry: t0.Add(time.Hour)}
			},
			want: Decision{Verdict: Ignore, Reason: ReasonAlreadyBlocked, Prefix: w24}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := base()
			if tt.conf != nil {
				tt.conf(&c)
			}
			v := &fakeView{now: t0}
			if tt.view != nil {
				tt.view(v)
			}
			got := c.Widen(netip.MustParsePrefix(tt.p), v)
			if diff := cmp.Diff(tt.want, got, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
				t.Fatalf("Widen (-want +got):\n%s", diff)
			}
			if v.asked != 0 {
				t.Fatal("Widen took a rate-limit token")
			}
		})
	}
}

// TestAdmitInsideWidened: a firing alert for a prefix inside an active
// widened block is a duplicate (it would fill the cap again with what the
// wider block drops), before the cap; inside an operator's block it is
// still blocked.
func TestAdmitInsideWidened(t *testing.T) {
	c := Default()
	c.MaxActive = 1
	w := netip.MustParsePrefix("2001:db8:5::/48")
	v := &fakeView{now: t0, tokens: 1, active: 1, current: map[netip.Prefix]Current{
		w: {Active: true, FromAlert: true, Widened: true, Expiry: t0.Add(time.Hour)},
	}}
	a := alert(true, "prefix", "2001:db8:5:9::/64")
	if d := c.Admit(a, v); d.Verdict != Duplicate {
		t.Fatalf("inside a widened block: %+v, want a duplicate", d)
	}
	v.current[w] = Current{Active: true, Expiry: t0.Add(time.Hour)}
	c.MaxActive = 2
	if d := c.Admit(a, v); d.Verdict != Block {
		t.Fatalf("inside an operator's block: %+v, want a block", d)
	}
}

func TestWideningValidate(t *testing.T) {
	for _, tt := range []struct {
		w    Widening
		want string
	}{
		{Widening{}, ""},
		{Widening{MinBlocks: 8, Length: prefix.Lengths{IPv4: 24, IPv6: 48}}, ""},
		{Widening{MinBlocks: 8, Length: prefix.Lengths{IPv4: 28, IPv6: 56}}, ""},
		{Widening{MinBlocks: 1, Length: prefix.Lengths{IPv4: 24, IPv6: 48}}, "at least 2"},
		{Widening{MinBlocks: -3, Length: prefix.Lengths{IPv4: 24, IPv6: 48}}, "at least 2"},
		{Widening{MinBlocks: 8, Length: prefix.Lengths{IPv4: 16, IPv6: 48}}, "no broader than the minimum prefix length"},
		{Widening{MinBlocks: 8, Length: prefix.Lengths{IPv4: 24, IPv6: 32}}, "no broader than the minimum prefix length"},
		{Widening{MinBlocks: 8, Length: prefix.Lengths{IPv4: 33, IPv6: 48}}, "out of range"},
	} {
		t.Run(fmt.Sprint(tt.w), func(t *testing.T) {
			c := Default()
			c.Widening = tt.w
			err := c.Validate()
			if (err == nil) != (tt.want == "") || err != nil && !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate = %v, want %q", err, tt.want)
			}
		})
	}
}
