package main

import (
	"strings"
	"testing"
	"time"

	"github.com/synguard/synguard/internal/lab"
)

// TestRealWiden: against a real firewalld in ipset mode, /64s rotating
// inside one /48 are blocked as the /48 once policy.widen's min_blocks are
// active: the wider entry replaces the narrower ones in the ipset, and it
// drops the whole range for real (a control address of the /48 that no
// alert named is dropped too, which the /64s alone did not).
func TestRealWiden(t *testing.T) {
	l := startLab(t)
	cfg, _ := labConfig(t, l.NS, "ipset", `policy:
  widen:
    min_blocks: 3
    ipv4: 24
    ipv6: 48
`)
	r := startResponder(t, "--dbus.address="+l.BusAddr, "--config.file="+cfg, "--web.disable-exporter-metrics")
	waitFor(t, "backend_up", func() bool {
		return metricLine(r.metrics(t), `synguard_responder_backend_up{backend="firewalld",mode="ipset"} 1`)
	})
	two := notification("firing", block(lab.Block6.String()), block("2001:db8:5:3::/64"))
	if code, body := r.post(t, two); code != 200 || !strings.Contains(body, `"blocked":2`) {
		t.Fatalf("block: %d %s", code, body)
	}
	l.waitListed("ipset", []string{"2001:db8:5:1::/64", "2001:db8:5:3::/64"}, 10*time.Second)
	if err := l.WaitBlocked(lab.Attacker6, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := l.Reach(lab.Control6); err != nil {
		t.Fatalf("before widening, the control address of the /48 must pass: %v", err)
	}

	third := notification("firing", block("2001:db8:5:4::/64"))
	if code, body := r.post(t, third); code != 200 || !strings.Contains(body, `"blocked":1`) {
		t.Fatalf("third block: %d %s", code, body)
	}
	l.waitListed("ipset", []string{"2001:db8:5::/48"}, 10*time.Second)
	if err := l.WaitBlocked(lab.Attacker6, 5*time.Second); err != nil {
		t.Fatalf("the attacker after widening: %v", err)
	}
	if err := l.WaitBlocked(lab.Control6, 5*time.Second); err != nil {
		t.Fatalf("the /48's control address after widening: %v", err)
	}
	if err := l.Reach(lab.Control4); err != nil {
		t.Fatalf("IPv4 control: %v", err)
	}
	m := r.metrics(t)
	for _, s := range []string{
		`synguard_responder_actions_total{action="widen",result="ok"} 1`,
		`synguard_responder_actions_total{action="widened",result="ok"} 3`,
		`synguard_responder_blocks_active{family="ipv6"} 1`,
	} {
		if !metricLine(m, s) {
			t.Fatalf("/metrics lacks %s", s)
		}
	}
}
