package policy

import (
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/synguard/synguard/internal/origin"
	"github.com/synguard/synguard/internal/prefix"
)

// fakeView is a View over literal state; tokens is what the rate limit has
// left, and allowed counts how many it gave out.
type fakeView struct {
	now     time.Time
	paused  bool
	current map[netip.Prefix]Current
	active  int
	own     *prefix.Set
	origins map[netip.Prefix]origin.Info
	tokens  int
	asked   int
}

func (v *fakeView) Now() time.Time   { return v.now }
func (v *fakeView) Paused() bool     { return v.paused }
func (v *fakeView) ActiveCount() int { return v.active }
func (v *fakeView) Own() *prefix.Set { return v.own }
func (v *fakeView) Current(p netip.Prefix) (Current, bool) {
	c, ok := v.current[p]
	return c, ok
}
func (v *fakeView) Origin(p netip.Prefix) origin.Info { return v.origins[p] }
func (v *fakeView) Allow() bool {
	v.asked++
	if v.tokens <= 0 {
		return false
	}
	v.tokens--
	return true
}

var t0 = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

func alert(firing bool, kv ...string) Alert {
	l := map[string]string{"action": "block", "alertname": "SynguardPrefixFlooding"}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "-" {
			delete(l, kv[i])
			continue
		}
		l[kv[i]] = kv[i+1]
	}
	return Alert{Firing: firing, Labels: l}
}

func TestAdmit(t *testing.T) {
	p27 := netip.MustParsePrefix("198.51.100.32/27")
	own := prefix.NewSet(netip.MustParsePrefix("203.0.113.10/32"))
	zz := origin.Info{ASN: 64496, ASOrg: "Example Flood Net", Country: "ZZ"}
	base := func() Config {
		c := Default()
		allow, _ := prefix.ParseSet([]string{"192.0.2.0/26"})
		c.Allow, c.Host, c.MaxActive = allow, "mx1", 3
		c.LiftOnResolve, c.MinHold = true, 10*time.Minute
		return c
	}
	tests := []struct {
		name  string
		alert Alert
		conf  func(*Config)
		view  func(*fakeView)
		want  Decision
		// asked is how many rate-limit tokens Admit may ask for.
		asked int
	}{
		{name: "new block", alert: alert(true, "prefix", "198.51.100.33/27"),
			want: Decision{Verdict: Block, Prefix: p27, Offences: 1, Expiry: t0.Add(time.Hour)}, asked: 1},
		{name: "new block carries its origin", alert: alert(true, "prefix", "198.51.100.32/27"),
			view: func(v *fakeView) { v.origins = map[netip.Prefix]origin.Info{p27: zz} },
			want: Decision{Verdict: Block, Prefix: p27, Offences: 1, Expiry: t0.Add(time.Hour), Origin: zz}, asked: 1},
		{name: "repeat offence escalates", alert: alert(true, "prefix", "198.51.100.32/27"),
			view: func(v *fakeView) {
				v.current = map[netip.Prefix]Current{p27: {Offences: 2, LastLifted: t0.Add(-time.Hour)}}
			},
			want: Decision{Verdict: Block, Prefix: p27, Offences: 3, Expiry: t0.Add(16 * time.Hour)}, asked: 1},
		{name: "offences past memory are forgotten", alert: alert(true, "prefix", "198.51.100.32/27"),
			view: func(v *fakeView) {
				v.current = map[netip.Prefix]Current{p27: {Offences: 5, LastLifted: t0.Add(-31 * 24 * time.Hour)}}
			},
			want: Decision{Verdict: Block, Prefix: p27, Offences: 1, Expiry: t0.Add(time.Hour)}, asked: 1},
		{name: "dry run decides the block", alert: alert(true, "prefix", "198.51.100.32/27"),
			conf: func(c *Config) { c.DryRun = true },
			want: Decision{Verdict: Block, Prefix: p27, Offences: 1, Expiry: t0.Add(time.Hour), DryRun: true}, asked: 1},
		{name: "fleet alert for another host blocks", alert: alert(true, "prefix", "198.51.100.32/27", "scope", "fleet", "host", "mx2"),
			want: Decision{Verdict: Block, Prefix: p27, Offences: 1, Expiry: t0.Add(time.Hour)}, asked: 1},
		{name: "duplicate", alert: alert(true, "prefix", "198.51.100.32/27"),
			view: func(v *fakeView) { v.current = map[netip.Prefix]Current{p27: {Active: true, FromAlert: true}} },
			want: Decision{Verdict: Duplicate, Prefix: p27}},
		{name: "paused", alert: alert(true, "prefix", "198.51.100.32/27"),
			view: func(v *fakeView) { v.paused = true },
			want: Decision{Verdict: Refuse, Reason: ReasonPaused}},
		{name: "unmatched", alert: alert(true, "prefix", "198.51.100.32/27", "action", "page"),
			want: Decision{Verdict: Refuse, Reason: ReasonUnmatched}},
		{name: "other host", alert: alert(true, "prefix", "198.51.100.32/27", "host", "mx2"),
			want: Decision{Verdict: Refuse, Reason: ReasonOtherHost}},
		{name: "no prefix", alert: alert(true),
			want: Decision{Verdict: Refuse, Reason: ReasonNoPrefix}},
		{name: "bad prefix", alert: alert(true, "prefix", "198.51.100.300/27"),
			want: Decision{Verdict: Refuse, Reason: ReasonBadPrefix}},
		{name: "too broad", alert: alert(true, "prefix", "198.51.0.0/16"),
			want: Decision{Verdict: Refuse, Reason: ReasonTooBroad, Prefix: netip.MustParsePrefix("198.51.0.0/16")}},
		{name: "allowlisted", alert: alert(true, "prefix", "192.0.2.0/27"),
			want: Decision{Verdict: Refuse, Reason: ReasonAllowlisted, Prefix: netip.MustParsePrefix("192.0.2.0/27")}},
		{name: "own address", alert: alert(true, "prefix", "203.0.113.0/27"),
			want: Decision{Verdict: Refuse, Reason: ReasonAllowlisted, Prefix: netip.MustParsePrefix("203.0.113.0/27")}},
		{name: "always allowed (loopback)", alert: alert(true, "prefix", "127.0.0.0/27"),
			want: Decision{Verdict: Refuse, Reason: ReasonAllowlisted, Prefix: netip.MustParsePrefix("127.0.0.0/27")}},
		{name: "origin country protected", alert: alert(true, "prefix", "198.51.100.32/27"),
			conf: func(c *Config) { c.Origin.NeverCountries = []string{"ZZ"} },
			view: func(v *fakeView) { v.origins = map[netip.Prefix]origin.Info{p27: zz} },
			want: Decision{Verdict: Refuse, Reason: ReasonOriginCountryProtected, Prefix: p27}},
		{name: "origin ASN protected", alert: alert(true, "prefix", "198.51.100.32/27"),
			conf: func(c *Config) { c.Origin.NeverASNs = []uint32{64496} },
			view: func(v *fakeView) { v.origins = map[netip.Prefix]origin.Info{p27: zz} },
			want: Decision{Verdict: Refuse, Reason: ReasonOriginASNProtected, Prefix: p27}},
		{name: "origin country not listed", alert: alert(true, "prefix", "198.51.100.32/27"),
			conf: func(c *Config) { c.Origin.OnlyCountries = []string{"YY"} },
			view: func(v *fakeView) { v.origins = map[netip.Prefix]origin.Info{p27: zz} },
			want: Decision{Verdict: Refuse, Reason: ReasonOriginCountryNotListed, Prefix: p27}},
		{name: "origin ASN not listed", alert: alert(true, "prefix", "198.51.100.32/27"),
			conf: func(c *Config) { c.Origin.OnlyASNs = []uint32{64500} },
			view: func(v *fakeView) { v.origins = map[netip.Prefix]origin.Info{p27: zz} },
			want: Decision{Verdict: Refuse, Reason: ReasonOriginASNNotListed, Prefix: p27}},
		{name: "origin unknown refused", alert: alert(true, "prefix", "198.51.100.32/27"),
			conf: func(c *Config) { c.Origin.OnlyCountries, c.Origin.RefuseUnknown = []string{"ZZ"}, true },
			want: Decision{Verdict: Refuse, Reason: ReasonOriginUnknown, Prefix: p27}},
		{name: "cap reached", alert: alert(true, "prefix", "198.51.100.32/27"),
			view: func(v *fakeView) { v.active = 3 },
			want: Decision{Verdict: Refuse, Reason: ReasonCapReached, Prefix: p27}},
		{name: "rate limited", alert: alert(true, "prefix", "198.51.100.32/27"),
			view: func(v *fakeView) { v.tokens = 0 },
			want: Decision{Verdict: Refuse, Reason: ReasonRateLimited, Prefix: p27}, asked: 1},
		{name: "resolved shortens to min hold", alert: alert(false, "prefix", "198.51.100.32/27"),
			view: func(v *fakeView) {
				v.current = map[netip.Prefix]Current{p27: {Active: true, FromAlert: true, Since: t0.Add(-time.Minute), Expiry: t0.Add(time.Hour)}}
			},
			want: Decision{Verdict: Shorten, Prefix: p27, Expiry: t0.Add(9 * time.Minute)}},
		{name: "resolved ignores the origin policy", alert: alert(false, "prefix", "198.51.100.32/27"),
			conf: func(c *Config) { c.Origin.NeverCountries = []string{"ZZ"} },
			view: func(v *fakeView) {
				v.origins = map[netip.Prefix]origin.Info{p27: zz}
				v.current = map[netip.Prefix]Current{p27: {Active: true, FromAlert: true, Since: t0.Add(-time.Hour), Expiry: t0.Add(time.Hour)}}
			},
			want: Decision{Verdict: Shorten, Prefix: p27, Expiry: t0}},
		{name: "resolved without lift_on_resolve", alert: alert(false, "prefix", "198.51.100.32/27"),
			conf: func(c *Config) { c.LiftOnResolve = false },
			view: func(v *fakeView) {
				v.current = map[netip.Prefix]Current{p27: {Active: true, FromAlert: true, Since: t0.Add(-time.Hour), Expiry: t0.Add(time.Hour)}}
			},
			want: Decision{Verdict: Ignore, Prefix: p27}},
		{name: "resolved of an operator block", alert: alert(false, "prefix", "198.51.100.32/27"),
			view: func(v *fakeView) {
				v.current = map[netip.Prefix]Current{p27: {Active: true, Since: t0.Add(-time.Hour), Expiry: t0.Add(time.Hour)}}
			},
			want: Decision{Verdict: Ignore, Prefix: p27}},
		{name: "resolved without a block", alert: alert(false, "prefix", "198.51.100.32/27"),
			want: Decision{Verdict: Ignore, Prefix: p27}},
		{name: "resolved is never rate limited", alert: alert(false, "prefix", "198.51.100.32/27"),
			view: func(v *fakeView) {
				v.tokens = 0
				v.current = map[netip.Prefix]Current{p27: {Active: true, FromAlert: true, Since: t0.Add(-time.Hour), Expiry: t0.Add(time.Hour)}}
			},
			want: Decision{Verdict: Shorten, Prefix: p27, Expiry: t0}},
	}
	seen := map[Reason]bool{}
	verdicts := map[Verdict]bool{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := base()
			if tt.conf != nil {
				tt.conf(&c)
			}
			if err := c.Validate(); err != nil {
				t.Fatal(err)
			}
			v := &fakeView{now: t0, own: own, tokens: 1}
			if tt.view != nil {
				tt.view(v)
			}
			got := c.Admit(tt.alert, v)
			if diff := cmp.Diff(tt.want, got, cmpPrefix); diff != "" {
				t.Errorf("unexpected decision (-want +got):\n%s", diff)
			}
			if v.asked != tt.asked {
				t.Errorf("asked the rate limit %d times, want %d", v.asked, tt.asked)
			}
			seen[got.Reason] = true
			verdicts[got.Verdict] = true
		})
	}
	// Every per-alert refusal reason and every alert verdict is covered.
	for _, r := range []Reason{ReasonPaused, ReasonUnmatched, ReasonOtherHost, ReasonNoPrefix, ReasonBadPrefix,
		ReasonTooBroad, ReasonAllowlisted, ReasonCapReached, ReasonRateLimited, ReasonOriginCountryProtected,
		ReasonOriginASNProtected, ReasonOriginCountryNotListed, ReasonOriginASNNotListed, ReasonOriginUnknown} {
		if !seen[r] {
			t.Errorf("no case refuses with %q", r)
		}
	}
	for _, v := range []Verdict{Refuse, Block, Duplicate, Shorten, Ignore} {
		if !verdicts[v] {
			t.Errorf("no case decides %v", v)
		}
	}
}

func TestAdmitRequest(t *testing.T) {
	p27 := netip.MustParsePrefix("198.51.100.32/27")
	zz := origin.Info{ASN: 64496, Country: "ZZ"}
	tests := []struct {
		name string
		p    string
		d    time.Duration
		conf func(*Config)
		view func(*fakeView)
		want Decision
	}{
		{name: "new block for the policy's duration", p: "198.51.100.33/27",
			want: Decision{Verdict: Block, Prefix: p27, Offences: 1, Expiry: t0.Add(time.Hour)}},
		{name: "new block for the asked duration", p: "198.51.100.32/27", d: 2 * time.Hour,
			want: Decision{Verdict: Block, Prefix: p27, Offences: 1, Expiry: t0.Add(2 * time.Hour)}},
		{name: "origin is recorded, never refused", p: "198.51.100.32/27",
			conf: func(c *Config) { c.Origin.NeverCountries = []string{"ZZ"} },
			view: func(v *fakeView) { v.origins = map[netip.Prefix]origin.Info{p27: zz} },
			want: Decision{Verdict: Block, Prefix: p27, Offences: 1, Expiry: t0.Add(time.Hour), Origin: zz}},
		{name: "paused and rate limit do not apply", p: "198.51.100.32/27",
			view: func(v *fakeView) { v.paused, v.tokens = true, 0 },
			want: Decision{Verdict: Block, Prefix: p27, Offences: 1, Expiry: t0.Add(time.Hour)}},
		{name: "dry run", p: "198.51.100.32/27", conf: func(c *Config) { c.DryRun = true },
			want: Decision{Verdict: Block, Prefix: p27, Offences: 1, Expiry: t0.Add(time.Hour), DryRun: true}},
		{name: "extends an active block", p: "198.51.100.32/27", d: 3 * time.Hour,
			view: func(v *fakeView) {
				v.current = map[netip.Prefix]Current{p27: {Active: true, Expiry: t0.Add(time.Hour)}}
			},
			want: Decision{Verdict: Extend, Prefix: p27, Expiry: t0.Add(3 * time.Hour)}},
		{name: "duplicate when not reaching further", p: "198.51.100.32/27", d: 30 * time.Minute,
			view: func(v *fakeView) {
				v.current = map[netip.Prefix]Current{p27: {Active: true, Expiry: t0.Add(time.Hour)}}
			},
			want: Decision{Verdict: Duplicate, Prefix: p27}},
		{name: "duplicate without a duration", p: "198.51.100.32/27",
			view: func(v *fakeView) {
				v.current = map[netip.Prefix]Current{p27: {Active: true, Expiry: t0.Add(time.Hour)}}
			},
			want: Decision{Verdict: Duplicate, Prefix: p27}},
		{name: "too broad", p: "198.51.0.0/16",
			want: Decision{Verdict: Refuse, Reason: ReasonTooBroad, Prefix: netip.MustParsePrefix("198.51.0.0/16")}},
		{name: "allowlist wins over the operator", p: "192.0.2.0/27",
			want: Decision{Verdict: Refuse, Reason: ReasonAllowlisted, Prefix: netip.MustParsePrefix("192.0.2.0/27")}},
		{name: "cap reached", p: "198.51.100.32/27", view: func(v *fakeView) { v.active = 3 },
			want: Decision{Verdict: Refuse, Reason: ReasonCapReached, Prefix: p27}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			c.Allow, _ = prefix.ParseSet([]string{"192.0.2.0/26"})
			c.MaxActive = 3
			if tt.conf != nil {
				tt.conf(&c)
			}
			v := &fakeView{now: t0, tokens: 1}
			if tt.view != nil {
				tt.view(v)
			}
			got := c.AdmitRequest(netip.MustParsePrefix(tt.p), tt.d, v)
			if diff := cmp.Diff(tt.want, got, cmpPrefix); diff != "" {
				t.Errorf("unexpected decision (-want +got):\n%s", diff)
			}
			if v.asked != 0 {
				t.Errorf("an operator's request asked the rate limit %d times", v.asked)
			}
		})
	}
}

// cmpPrefix compares netip.Prefix values, whose fields cmp cannot see.
var cmpPrefix = cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })
