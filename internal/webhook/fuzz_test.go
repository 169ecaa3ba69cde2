package webhook

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/synguard/synguard/internal/fixtures"
	"github.com/synguard/synguard/internal/policy"
	"github.com/synguard/synguard/internal/prefix"
)

// FuzzDecodePolicy feeds arbitrary bodies through Decode and the policy and
// checks the safety rules hold for whatever comes out: a prefix that passes
// is canonical, no broader than the minimum length, and overlaps no
// allowlisted range.
func FuzzDecodePolicy(f *testing.F) {
	for _, name := range fixtures.Webhooks() {
		body := readFile(f, name)
		f.Add([]byte(body))
		for _, p := range []string{"0.0.0.0/0", "10.0.0.0/8", "127.0.0.1", "::ffff:198.51.100.33/123", "192.0.2.1/32", "2001:db8::/32", "fe80::1/128", "", "x"} {
			f.Add([]byte(strings.ReplaceAll(body, `"prefix": "198.51.100.32/27"`, `"prefix": "`+p+`"`)))
			f.Add([]byte(strings.ReplaceAll(body, `"prefix": "203.0.113.0/24"`, `"prefix": "`+p+`"`)))
		}
	}
	f.Add([]byte(`{"text":"x"}`))
	f.Add([]byte(`{"version":"4","alerts":[{"status":"firing","labels":{"action":"block","prefix":"::/0"}}]}`))

	c := policy.Default()
	c.Allow = prefix.NewSet(netip.MustParsePrefix("192.0.2.0/24"))
	own := prefix.NewSet(netip.MustParsePrefix("203.0.113.10/32"))
	f.Fuzz(func(t *testing.T, body []byte) {
		m, err := Decode(body, 100)
		if err != nil {
			if err.Status < 400 || err.Status > 499 || err.Reason == "" || err.Msg == "" {
				t.Fatalf("refusal without a 4xx, reason and message: %+v", err)
			}
			return
		}
		if m.Version != "4" || len(m.Alerts) > 100 {
			t.Fatalf("accepted version %q with %d alerts", m.Version, len(m.Alerts))
		}
		for _, a := range m.PolicyAlerts() {
			if c.Selects(a) != policy.ReasonNone {
				continue
			}
			p, r := c.AlertPrefix(a)
			if r != policy.ReasonNone {
				continue
			}
			if c.Check(p, own) != policy.ReasonNone {
				continue
			}
			if p != prefix.Canonical(p) {
				t.Fatalf("passed prefix %v is not canonical", p)
			}
			min := c.MinLength.IPv6
			if p.Addr().Is4() {
				min = c.MinLength.IPv4
			}
			if p.Bits() < min {
				t.Fatalf("passed prefix %v broader than /%d", p, min)
			}
			for _, s := range []*prefix.Set{prefix.AlwaysAllowed, c.Allow, own} {
				if q, hit := s.Overlaps(p); hit {
					t.Fatalf("passed prefix %v overlaps allowlisted %v", p, q)
				}
			}
		}
	})
}
