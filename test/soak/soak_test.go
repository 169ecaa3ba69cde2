package soak

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/synguard/synguard/internal/daemontest"
	"github.com/synguard/synguard/internal/lab"
)

// setups are the contract suite's setups with a real firewall behind them.
var setups = []setup{
	{"firewalld-ipset", "firewalld", "ipset"},
	{"firewalld-zone", "firewalld", "zone"},
	{"nftables", "nftables", ""},
}

var (
	seedOnce sync.Once
	theSeed  uint64
)

// seed is SOAK_SEED, or one drawn from the clock; it is logged either way.
func seed(t *testing.T) uint64 {
	seedOnce.Do(func() {
		theSeed = uint64(time.Now().UnixNano())
		if s := os.Getenv("SOAK_SEED"); s != "" {
			n, err := strconv.ParseUint(s, 10, 64)
			if err != nil {
				t.Fatalf("SOAK_SEED=%q: %v", s, err)
			}
			theSeed = n
		}
	})
	return theSeed
}

// duration is SOAK_DURATION (a Go duration), the whole campaign's time,
// shared equally by the setups; 2 minutes by default.
func duration(t *testing.T) time.Duration {
	d := 2 * time.Minute
	if s := os.Getenv("SOAK_DURATION"); s != "" {
		var err error
		if d, err = time.ParseDuration(s); err != nil || d <= 0 {
			t.Fatalf("SOAK_DURATION=%q: not a positive duration (%v)", s, err)
		}
	}
	return d
}

// TestSoak is the randomized fault campaign on every setup: SOAK_SEED
// replays one, SOAK_SETUPS (comma-separated names) picks setups.
func TestSoak(t *testing.T) {
	lab.NeedRoot(t)
	lab.Need(t, "mounts a small tmpfs for the state", "mount", "umount")
	sd := seed(t)
	per := duration(t) / time.Duration(len(setups))
	only := os.Getenv("SOAK_SETUPS")
	if only != "" {
		n := len(strings.Split(only, ","))
		per = duration(t) / time.Duration(n)
	}
	t.Logf("seed %d (SOAK_SEED=%d replays it), %s per setup", sd, sd, per)
	bin := daemontest.Build(t, "../../cmd/responder", "synguard-responder")
	forger := daemontest.Build(t, "../lab/cmd/forgesignals", "forgesignals")
	for i, s := range setups {
		if only != "" && !strings.Contains(","+only+",", ","+s.name+",") {
			continue
		}
		t.Run(s.name, func(t *testing.T) {
			c := &campaign{t: t, s: s, rng: rand.New(rand.NewPCG(sd, uint64(i))), log: NewLog(), forger: forger}
			c.pool = NewPool(c.rng)
			// Lab setup counts against the setup's time, so that the
			// whole run keeps to SOAK_DURATION.
			end := time.Now().Add(per)
			c.run(bin, end)
			t.Logf("%s seed %d: %s", s.name, sd, c.counts)
			if c.counts.Violations > 0 {
				// The whole responder log, beside the test's tail of it.
				logFile := filepath.Join(os.TempDir(), fmt.Sprintf("sgs-%d-%s-responder.log", os.Getpid(), s.name))
				if err := os.WriteFile(logFile, []byte(c.r.logs.String()+"\n\noperations:\n"+c.log.String()), 0o600); err == nil {
					t.Logf("the responder's whole log and the operations: %s", logFile)
				}
				t.Errorf("seed %d (SOAK_SEED=%d SOAK_SETUPS=%s replays it): %d violations:\n%s\n\noperations:\n%s\n\nresponder:\n%s",
					sd, sd, s.name, c.counts.Violations, strings.Join(c.violations, "\n"), c.log, c.r.tail(200))
			} else if testing.Verbose() {
				t.Logf("operations:\n%s", c.log)
			}
		})
	}
}

// TestCover: the address arithmetic the invariant rests on.
func TestCover(t *testing.T) {
	pp := netip.MustParsePrefix
	a := CoverOf(pp("198.51.100.32/27"), pp("198.51.100.33/32"))
	if !a.Equal(CoverOf(pp("198.51.100.32/27"))) {
		t.Errorf("a /32 inside a /27 changed the cover: %v", a)
	}
	b := CoverOf(pp("198.51.100.32/28"), pp("198.51.100.48/28"))
	if !b.Equal(CoverOf(pp("198.51.100.32/27"))) {
		t.Errorf("two adjacent /28s are not their /27: %v", b)
	}
	if CoverOf(pp("198.51.100.32/28")).Equal(CoverOf(pp("198.51.100.32/27"))) {
		t.Error("a /28 covers as much as its /27")
	}
	if !CoverOf(pp("2001:db8:5:1::/64")).Contains(netip.MustParseAddr("2001:db8:5:1::33")) ||
		CoverOf(pp("2001:db8:5:1::/64")).Contains(netip.MustParseAddr("198.51.100.33")) {
		t.Error("Contains is wrong across families")
	}
	r := Cover(nil).WithRange(netip.MustParseAddr("203.0.113.0"), netip.MustParseAddr("203.0.113.31"))
	if !r.Equal(CoverOf(pp("203.0.113.0/27"))) {
		t.Errorf("an nft interval is not its prefix: %v", r)
	}
	pool := NewPool(rand.New(rand.NewPCG(1, 2)))
	for range 1000 {
		if p := pool.Prefix(); !p.IsValid() || HostileRange.Overlaps(p) {
			t.Fatalf("pool prefix %v invalid or hostile", p)
		}
		if h := pool.Hostile(); !HostileRange.Contains(h.Addr()) || h.Bits() < 27 {
			t.Fatalf("hostile prefix %v outside %v", h, HostileRange)
		}
	}
}

// TestInvariantSeesDivergence: the campaign's check is able to fail. With
// the responder settled on a block, the test changes the firewall behind
// its back the ways a bug would (an active block's entry gone, an entry no
// block owns, the operator's source removed) and the check must name each.
func TestInvariantSeesDivergence(t *testing.T) {
	lab.NeedRoot(t)
	lab.Need(t, "mounts a small tmpfs for the state", "mount", "umount")
	bin := daemontest.Build(t, "../../cmd/responder", "synguard-responder")
	for i, s := range setups[:2] {
		t.Run(s.name, func(t *testing.T) {
			c := &campaign{t: t, s: s, rng: rand.New(rand.NewPCG(1, uint64(i))), log: NewLog()}
			c.pool = NewPool(c.rng)
			c.setUp(bin)
			block := lab.Block4
			code, body, err := c.r.authed("POST", "/api/v1/blocks", []byte(`{"prefix":"`+block.String()+`","duration":"1h","reason":"self-test"}`))
			if err != nil || code != 201 {
				t.Fatalf("block %v: %d %v %s", block, code, err, body)
			}
			c.asked = append(c.asked, block)
			op := netip.MustParsePrefix("203.0.113.64/27")
			if err := operatorAdd(c.l, op); err != nil {
				t.Fatal(err)
			}
			c.operator = append(c.operator, op)
			if !c.settleAndCheck() {
				t.Fatalf("the check fails on a quiet responder: %v\n%s", c.violations, c.log)
			}
			expect := func(what, want string, args ...string) {
				t.Helper()
				c.l.Fw("fw_cmd", args...)
				got := c.checkOnce()
				if !strings.Contains(got, want) {
					t.Errorf("%s: the check says %q, want it to say %q", what, got, want)
				}
			}
			if s.mode == "ipset" {
				expect("an active block's entry removed behind the responder", "the backend drops", "--ipset=synguard4", "--remove-entry="+block.String())
				c.l.Fw("fw_cmd", "--ipset=synguard4", "--add-entry="+block.String())
				expect("an entry no block owns", "ipset entry 203.0.113.0/27 is no active block", "--ipset=synguard4", "--add-entry=203.0.113.0/27")
			} else {
				expect("an active block's source removed behind the responder", "missing ["+block.String()+"]", "--zone=drop", "--remove-source="+block.String())
				c.l.Fw("fw_cmd", "--zone=drop", "--add-source="+block.String())
				expect("a source no block owns", "extra [203.0.113.0/27]", "--zone=drop", "--add-source=203.0.113.0/27")
			}
			expect("the operator's source removed", "the operator's own drop source 203.0.113.64/27 is gone", "--zone=drop", "--remove-source="+op.String())
		})
	}
}
