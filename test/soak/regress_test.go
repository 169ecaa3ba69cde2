package soak

import (
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/synguard/synguard/internal/daemontest"
	"github.com/synguard/synguard/internal/lab"
)

// TestPreexistingSurvivesResponderCrash is the campaign's first finding
// (seed 1796162006321794561, firewalld-zone), replayed step by step: the
// operator's own drop source P, a block of P (preexisting, never the
// responder's), the responder killed and started while it is active, the
// block's expiry. The restarted responder must not take P over: P stays in
// the zone, after the expiry and after every later reload.
func TestPreexistingSurvivesResponderCrash(t *testing.T) {
	lab.NeedRoot(t)
	lab.Need(t, "mounts a small tmpfs for the state", "mount", "umount")
	bin := daemontest.Build(t, "../../cmd/responder", "synguard-responder")
	for _, downFirst := range []bool{false, true} {
		name := "firewalld-up"
		if downFirst {
			name = "blocked-while-firewalld-down"
		}
		t.Run(name, func(t *testing.T) { preexistingSurvives(t, bin, downFirst) })
	}
}

func preexistingSurvives(t *testing.T, bin string, downFirst bool) {
	c := &campaign{t: t, s: setups[1], rng: rand.New(rand.NewPCG(1, 1)), log: NewLog()}
	c.pool = NewPool(c.rng)
	c.setUp(bin)
	p := netip.MustParsePrefix("203.0.113.64/27")
	if err := operatorAdd(c.l, p); err != nil {
		t.Fatal(err)
	}
	c.operator = append(c.operator, p)
	if downFirst {
		c.l.Fw("fw_crash")
		c.fwDown = true
	}
	code, body, err := c.r.authed("POST", "/api/v1/blocks", []byte(`{"prefix":"`+p.String()+`","duration":"15s","reason":"regression"}`))
	if err != nil || code/100 != 2 {
		t.Fatalf("block %v: %d %v %s", p, code, err, body)
	}
	if downFirst {
		c.fwStart()
	}
	if !c.settleAndCheck() {
		t.Fatalf("before the crash: %v\n%s", c.violations, c.log)
	}
	// The confirmation is saved just after the status shows it.
	time.Sleep(time.Second)
	c.opResponderCrash()
	if !c.settleAndCheck() {
		t.Fatalf("after the crash: %v\n%s", c.violations, c.log)
	}
	daemontest.Eventually(t, "the block to expire", 30*time.Second, func() (bool, string) {
		st, err := c.r.state()
		return err == nil && !slices.Contains(st.active, p), st.String()
	})
	if !c.settleAndCheck() {
		t.Fatalf("after the expiry: %v\n%s\nresponder:\n%s", c.violations, c.log, c.r.tail(30))
	}
	c.opFirewalld("fw_reload")
	if !c.settleAndCheck() {
		t.Fatalf("after the expiry and a reload: %v\n%s\nresponder:\n%s", c.violations, c.log, c.r.tail(30))
	}
}
