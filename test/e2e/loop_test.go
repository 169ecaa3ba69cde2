package e2e

import (
	"fmt"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/synguard/synguard/internal/lab"
)

// The attacking ranges and the block duration of the scenario: short, so
// the first blocks expire within the test and the second ones show the
// escalation (the shipped factor, 4).
const (
	floodA        = "198.51.100.32/27"
	floodB        = "198.51.100.96/27"
	blockDuration = 20 * time.Second
)

func fmtCounts(m map[string]int) string {
	var ks []string
	for k, v := range m {
		ks = append(ks, fmt.Sprintf("%s=%d", k, v))
	}
	sort.Strings(ks)
	return strings.Join(ks, " ")
}

// TestLoop runs the whole loop: a flood from two /27s makes SMTP stop
// answering, the exporter counts it per /27 as ss does, Prometheus fires the
// project's rule, Alertmanager calls the responder, the victim's firewalld
// drops both /27s, SMTP answers again, and a control host is never blocked;
// the blocks expire, and a new flood is blocked again, for longer. The
// status page shows the blocks in a real headless browser.
//
// SYNGUARD_E2E_BREAK=responder stops the responder once the lab is up, to
// show the test fails when a stage of the loop is broken.
func TestLoop(t *testing.T) {
	lab.Need(t, "renders the status page in a headless browser", "chromium")
	t0 := time.Now()
	l := lab.StartLoop(t, "sgle", lab.LoopOptions{Env: []string{"LOOP_BLOCK_DURATION=" + blockDuration.String()}})
	if os.Getenv("SYNGUARD_E2E_BREAK") == "responder" {
		l.Must("loop_kill responder1")
		t.Log("SYNGUARD_E2E_BREAK=responder: responder stopped")
	}

	controlIP := netip.MustParseAddr(strings.TrimSpace(l.Must("loop_control_ip 1")))
	// controlNeverBlocked checks the responder's and firewalld's blocks.
	controlNeverBlocked := func(where string, prefixes map[string]int) {
		t.Helper()
		for p := range prefixes {
			if pp, err := netip.ParsePrefix(p); err == nil && pp.Contains(controlIP) {
				t.Fatalf("control host %s blocked by %s in %s", controlIP, p, where)
			}
		}
	}

	lab.WaitFor(t, "SMTP probe succeeds before the flood", 30*time.Second, func() (bool, string) {
		v := l.PromValue(`synguard_probe_success{module="smtp"}`)
		return v == "1", "synguard_probe_success{module=smtp}=" + v
	})

	// Flood 1.
	l.Must("loop_flood_start 1")
	flood1 := time.Now()
	// Per-prefix counts equal ss's: read ss, the exporter, ss again, and
	// compare when the two ss readings agree (the queue churns as sockets
	// expire and new SYNs take their place).
	lab.WaitFor(t, "exporter's per-prefix counts equal ss's", 30*time.Second, func() (bool, string) {
		s1, err1 := l.SSCounts(1)
		e, err2 := l.ExporterCounts(1)
		s2, err3 := l.SSCounts(1)
		if err1 != nil || err2 != nil || err3 != nil {
			return false, fmt.Sprint(err1, err2, err3)
		}
		state := fmt.Sprintf("ss %s, exporter %s, ss %s", fmtCounts(s1), fmtCounts(e), fmtCounts(s2))
		return s1[floodA] > 0 && s1[floodB] > 0 && maps.Equal(s1, s2) && maps.Equal(s1, e), state
	})

	lab.WaitFor(t, "SMTP probe fails during the flood", 20*time.Second, func() (bool, string) {
		v := l.PromValue(`synguard_probe_success{module="smtp"}`)
		return v == "0", "synguard_probe_success{module=smtp}=" + v
	})

	// Both /27s blocked, in the responder and in firewalld itself.
	var first map[string]lab.Block
	lab.WaitFor(t, "both /27s blocked in the victim's firewalld", 120*time.Second, func() (bool, string) {
		bs, err := l.Blocks(1)
		if err != nil {
			return false, err.Error()
		}
		applied := map[string]int{}
		for p, b := range bs {
			if b.Applied {
				applied[p] = 1
			}
		}
		controlNeverBlocked("the responder", applied)
		if applied[floodA] == 0 || applied[floodB] == 0 {
			return false, fmt.Sprintf("responder blocks %v", applied)
		}
		fw, err := l.FirewalldDrops(1)
		if err != nil {
			return false, err.Error()
		}
		controlNeverBlocked("firewalld", fw)
		first = bs
		return fw[floodA] > 0 && fw[floodB] > 0, fmt.Sprintf("firewalld drops %v", fw)
	})
	blocked1 := time.Now()
	t.Logf("flood to both blocks: %s", blocked1.Sub(flood1).Round(100*time.Millisecond))

	// With the flood still running: SMTP answers again, and the control
	// host is served.
	lab.WaitFor(t, "SMTP probe succeeds again after the blocks", 40*time.Second, func() (bool, string) {
		v := l.PromValue(`synguard_probe_success{module="smtp"}`)
		return v == "1", "synguard_probe_success{module=smtp}=" + v
	})
	lab.WaitFor(t, "control host served after the blocks", 30*time.Second, func() (bool, string) {
		lines := l.ControlLog(1)
		for _, c := range lines {
			if c.Served && c.At.After(blocked1) {
				return true, "served at " + c.At.Format(time.TimeOnly)
			}
		}
		return false, fmt.Sprintf("%d sessions, none served since the blocks", len(lines))
	})

	statusPage(t, l)

	// The flood stops; the blocks expire.
	l.Must("loop_flood_stop 1")
	lab.WaitFor(t, "blocks expire after the flood stops", blockDuration+40*time.Second, func() (bool, string) {
		bs, err := l.Blocks(1)
		if err != nil {
			return false, err.Error()
		}
		fw, err := l.FirewalldDrops(1)
		if err != nil {
			return false, err.Error()
		}
		_, a := bs[floodA]
		_, b := bs[floodB]
		return !a && !b && fw[floodA] == 0 && fw[floodB] == 0, fmt.Sprintf("responder %d blocks, firewalld %v", len(bs), fw)
	})

	// The flood resumes: blocked again, for longer.
	l.Must("loop_flood_start 1")
	lab.WaitFor(t, "resumed flood blocked again, for longer", 120*time.Second, func() (bool, string) {
		bs, err := l.Blocks(1)
		if err != nil {
			return false, err.Error()
		}
		var state []string
		done := true
		for _, p := range []string{floodA, floodB} {
			b, ok := bs[p]
			if !ok || !b.Applied {
				done = false
				state = append(state, p+" not blocked")
				continue
			}
			d1 := first[p].Expiry.Sub(first[p].Since)
			d2 := b.Expiry.Sub(b.Since)
			state = append(state, fmt.Sprintf("%s offences %d, %s then %s", p, b.Offences, d1, d2))
			if b.Offences < 2 || d2 <= d1 {
				t.Fatalf("%s blocked again without escalation: first %s (offences %d), now %s (offences %d)",
					p, d1, first[p].Offences, d2, b.Offences)
			}
		}
		if !done {
			return false, strings.Join(state, "; ")
		}
		fw, err := l.FirewalldDrops(1)
		if err != nil {
			return false, err.Error()
		}
		controlNeverBlocked("firewalld", fw)
		return fw[floodA] > 0 && fw[floodB] > 0, strings.Join(state, "; ")
	})
	l.Must("loop_flood_stop 1")
	t.Logf("whole scenario in %s", time.Since(t0).Round(time.Second))
}

// statusPage renders the responder's status page in headless Chromium,
// checks that it lists both blocked prefixes, and keeps a screenshot in
// out/ as the test's artifact.
func statusPage(t *testing.T, l *lab.Loop) {
	t.Helper()
	out := filepath.Join(l.Repo, "out")
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	profile := t.TempDir()
	chromium := fmt.Sprintf(`ip netns exec "$(loop_victim_ns 1)" timeout 90 chromium --headless --no-sandbox --disable-gpu `+
		`--disable-background-networking --disable-component-update --disable-sync --no-first-run `+
		`--user-data-dir=%s --window-size=1280,800 --virtual-time-budget=3000`, profile)
	dom := l.Must(chromium + ` --dump-dom http://127.0.0.1:9818/status 2>/dev/null`)
	for p, origin := range map[string]string{floodA: "AS64496 Example Flood Net, ZZ", floodB: "AS64497 Example Bulletproof Hosting, XA"} {
		if !strings.Contains(dom, `data-prefix="`+p+`"`) {
			t.Errorf("status page in Chromium lacks a block row for %s:\n%s", p, dom)
		}
		// The lab's origin databases (labconfig origin) name each range.
		if !strings.Contains(dom, origin) {
			t.Errorf("status page in Chromium lacks the origin of %s (%s):\n%s", p, origin, dom)
		}
	}
	shot := filepath.Join(out, "e2e-status-page.png")
	l.Must(chromium + " --screenshot=" + shot + ` http://127.0.0.1:9818/status >/dev/null 2>&1`)
	if fi, err := os.Stat(shot); err != nil || fi.Size() == 0 {
		t.Errorf("no screenshot of the status page at %s: %v", shot, err)
	} else {
		t.Logf("status page renders both blocks; screenshot %s", shot)
	}
}
