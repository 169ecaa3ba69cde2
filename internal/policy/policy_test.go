package policy

import (
	"net/netip"
	"regexp"
	"testing"
	"time"

	"github.com/synguard/synguard/internal/prefix"
)

func testConfig(t *testing.T) Config {
	t.Helper()
	c := Default()
	allow, err := prefix.ParseSet([]string{"192.0.2.0/26", "2001:db8:aaaa::/48"})
	if err != nil {
		t.Fatal(err)
	}
	c.Allow = allow
	c.Host = "mx1"
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestSelects(t *testing.T) {
	c := testConfig(t)
	c.MatchRE = map[string]*regexp.Regexp{"alertname": regexp.MustCompile("^(?:SynFlood.*)$")}
	tests := []struct {
		name   string
		labels map[string]string
		want   Reason
	}{
		{"match", map[string]string{"action": "block", "alertname": "SynFloodPrefix"}, ReasonNone},
		{"no action", map[string]string{"alertname": "SynFloodPrefix"}, ReasonUnmatched},
		{"other action", map[string]string{"action": "page", "alertname": "SynFloodPrefix"}, ReasonUnmatched},
		{"regexp miss", map[string]string{"action": "block", "alertname": "Other"}, ReasonUnmatched},
		{"own host", map[string]string{"action": "block", "alertname": "SynFlood", "host": "mx1"}, ReasonNone},
		{"other host", map[string]string{"action": "block", "alertname": "SynFlood", "host": "mx2"}, ReasonOtherHost},
		{"fleet", map[string]string{"action": "block", "alertname": "SynFlood", "scope": "fleet"}, ReasonNone},
		{"fleet with host", map[string]string{"action": "block", "alertname": "SynFlood", "scope": "fleet", "host": "mx2"}, ReasonNone},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := c.Selects(Alert{Firing: true, Labels: tt.labels}); got != tt.want {
				t.Fatalf("Selects = %q, want %q", got, tt.want)
			}
		})
	}
	c.Host = ""
	if got := c.Selects(Alert{Labels: map[string]string{"action": "block", "alertname": "SynFlood", "host": "mx2"}}); got != ReasonNone {
		t.Fatalf("without a configured host any host's alert applies, got %q", got)
	}
	// A fleet whose mixin names the host label "node".
	c.Host, c.HostLabel = "mx1", "node"
	if got := c.Selects(Alert{Labels: map[string]string{"action": "block", "alertname": "SynFlood", "node": "mx2", "host": "mx1"}}); got != ReasonOtherHost {
		t.Fatalf("with host_label node, an alert for node mx2 must be refused, got %q", got)
	}
	if got := c.Selects(Alert{Labels: map[string]string{"action": "block", "alertname": "SynFlood", "node": "mx1", "host": "mx2"}}); got != ReasonNone {
		t.Fatalf("with host_label node, the host label means nothing, got %q", got)
	}
}

func TestAlertPrefixAndCheck(t *testing.T) {
	c := testConfig(t)
	own := prefix.NewSet(netip.MustParsePrefix("203.0.113.10/32"), netip.MustParsePrefix("2001:db8:1::25/128"))
	tests := []struct {
		name, label string
		missing     bool
		want        Reason
		wantPrefix  string
	}{
		{name: "runbook /27", label: "198.51.100.32/27", wantPrefix: "198.51.100.32/27"},
		{name: "host bits cleared", label: "198.51.100.33/27", wantPrefix: "198.51.100.32/27"},
		{name: "mapped v4", label: "::ffff:198.51.100.33/123", wantPrefix: "198.51.100.32/27"},
		{name: "v6 /64", label: "2001:db8:2:3::/64", wantPrefix: "2001:db8:2:3::/64"},
		{name: "bare address", label: "198.51.100.7", wantPrefix: "198.51.100.7/32"},
		{name: "missing", missing: true, want: ReasonNoPrefix},
		{name: "empty", label: "", want: ReasonNoPrefix},
		{name: "garbage", label: "other", want: ReasonBadPrefix},
		{name: "bad octet", label: "198.51.100.300/27", want: ReasonBadPrefix},
		{name: "slash zero", label: "0.0.0.0/0", want: ReasonTooBroad},
		{name: "v6 slash zero", label: "::/0", want: ReasonTooBroad},
		{name: "slash eight", label: "10.0.0.0/8", want: ReasonTooBroad},
		{name: "slash 23", label: "198.51.100.0/23", want: ReasonTooBroad},
		{name: "slash 24 ok", label: "198.51.100.0/24", wantPrefix: "198.51.100.0/24"},
		{name: "v6 /47", label: "2001:db8::/47", want: ReasonTooBroad},
		{name: "loopback", label: "127.0.0.0/24", want: ReasonAllowlisted},
		{name: "v6 loopback", label: "::1", want: ReasonAllowlisted},
		{name: "link-local", label: "169.254.1.0/24", want: ReasonAllowlisted},
		{name: "v6 link-local", label: "fe80::/64", want: ReasonAllowlisted},
		{name: "inside allowlist", label: "192.0.2.32/27", want: ReasonAllowlisted},
		{name: "holding allowlist", label: "192.0.2.0/24", want: ReasonAllowlisted},
		{name: "beside allowlist", label: "192.0.2.64/27", wantPrefix: "192.0.2.64/27"},
		{name: "v6 allowlist", label: "2001:db8:aaaa:1::/64", want: ReasonAllowlisted},
		{name: "own address", label: "203.0.113.0/27", want: ReasonAllowlisted},
		{name: "own v6 address", label: "2001:db8:1::/64", want: ReasonAllowlisted},
		{name: "mapped own", label: "::ffff:203.0.113.10", want: ReasonAllowlisted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			labels := map[string]string{}
			if !tt.missing {
				labels["prefix"] = tt.label
			}
			p, r := c.AlertPrefix(Alert{Labels: labels})
			if r == ReasonNone {
				r = c.Check(p, own)
			}
			if r != tt.want {
				t.Fatalf("reason %q, want %q (prefix %v)", r, tt.want, p)
			}
			if r == ReasonNone && p.String() != tt.wantPrefix {
				t.Fatalf("prefix %v, want %v", p, tt.wantPrefix)
			}
		})
	}
	if r := c.Check(netip.Prefix{}, nil); r != ReasonBadPrefix {
		t.Fatalf("invalid prefix: %q", r)
	}
}

func TestDurationEscalation(t *testing.T) {
	c := Default()
	want := []time.Duration{time.Hour, 4 * time.Hour, 16 * time.Hour, 64 * time.Hour, 168 * time.Hour, 168 * time.Hour}
	for i, w := range want {
		if got := c.Duration(i + 1); got != w {
			t.Errorf("offence %d: %v, want %v", i+1, got, w)
		}
	}
	if got := c.Duration(0); got != time.Hour {
		t.Errorf("offence 0: %v", got)
	}
	if got := c.Duration(1 << 20); got != c.MaxDuration {
		t.Errorf("huge offence: %v", got)
	}
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	if n := c.Offences(0, time.Time{}, now); n != 1 {
		t.Errorf("first offence %d", n)
	}
	if n := c.Offences(2, now.Add(-24*time.Hour), now); n != 3 {
		t.Errorf("remembered offence %d", n)
	}
	if n := c.Offences(2, now.Add(-31*24*time.Hour), now); n != 1 {
		t.Errorf("forgotten offence %d", n)
	}
}

func TestResolvedExpiry(t *testing.T) {
	c := Default()
	since := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	expiry := since.Add(16 * time.Hour)
	if got := c.ResolvedExpiry(since, expiry, since.Add(time.Minute)); !got.Equal(expiry) {
		t.Fatalf("resolve must not lift by default: %v", got)
	}
	c.LiftOnResolve = true
	if got := c.ResolvedExpiry(since, expiry, since.Add(time.Minute)); !got.Equal(since.Add(time.Hour)) {
		t.Fatalf("resolve within hold: %v, want since+1h", got)
	}
	now := since.Add(3 * time.Hour)
	if got := c.ResolvedExpiry(since, expiry, now); !got.Equal(now) {
		t.Fatalf("resolve after hold: %v, want now", got)
	}
	short := since.Add(30 * time.Minute)
	if got := c.ResolvedExpiry(since, short, since.Add(time.Minute)); !got.Equal(short) {
		t.Fatalf("resolve never extends: %v", got)
	}
}

func TestLimiter(t *testing.T) {
	var l Limiter
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	n := 0
	for range 10 {
		if l.Allow(now, 60, 3) {
			n++
		}
	}
	if n != 3 {
		t.Fatalf("burst allowed %d, want 3", n)
	}
	if l.Allow(now.Add(500*time.Millisecond), 60, 3) {
		t.Fatal("half a token allowed")
	}
	if !l.Allow(now.Add(1100*time.Millisecond), 60, 3) {
		t.Fatal("refilled token refused")
	}
	n = 0
	for range 5 {
		if l.Allow(now.Add(time.Hour), 60, 3) {
			n++
		}
	}
	if n != 3 {
		t.Fatalf("after an hour %d allowed, want the burst of 3", n)
	}
}

func TestValidate(t *testing.T) {
	for name, mod := range map[string]func(*Config){
		"slash 8 minimum":  func(c *Config) { c.MinLength.IPv4 = 8 },
		"v6 slash 0":       func(c *Config) { c.MinLength.IPv6 = 0 },
		"zero cap":         func(c *Config) { c.MaxActive = 0 },
		"zero rate":        func(c *Config) { c.RatePerMinute = 0 },
		"max below base":   func(c *Config) { c.MaxDuration = time.Minute },
		"shrinking factor": func(c *Config) { c.Factor = 0.5 },
		"no label":         func(c *Config) { c.PrefixLabel = "" },
	} {
		c := Default()
		mod(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	c := Default()
	if err := c.Validate(); err != nil {
		t.Fatalf("default refused: %v", err)
	}
}
