package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The attacking ranges and the block duration of the scenario: short, so
// the first blocks expire within the test and the second ones show the
// escalation (the shipped factor, 4).
const (
	floodA        = "198.51.100.32/27"
	floodB        = "198.51.100.96/27"
	blockDuration = 20 * time.Second
)

// lab drives test/lab/loop.sh: each call is a fresh bash that sources it.
type lab struct {
	t    *testing.T
	repo string
	env  []string
}

func (l *lab) sh(script string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", `set -o pipefail; . test/lab/loop.sh; `+script)
	cmd.Dir = l.repo
	cmd.Env = append(os.Environ(), l.env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if err != nil {
		return out.String(), fmt.Errorf("%s: %w\n%s%s", script, err, out.String(), errb.String())
	}
	return out.String(), nil
}

func (l *lab) must(script string) string {
	l.t.Helper()
	out, err := l.sh(script)
	if err != nil {
		l.t.Fatal(err)
	}
	return out
}

// promValue is the value of the first series of expr, or "" when none.
func (l *lab) promValue(expr string) string {
	out, err := l.sh(fmt.Sprintf("loop_prom_scalar %q", expr))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(out)
}

// block is a block as the responder's API lists it.
type block struct {
	Prefix   string    `json:"prefix"`
	Since    time.Time `json:"since"`
	Expiry   time.Time `json:"expiry"`
	Offences int       `json:"offences"`
	Applied  bool      `json:"applied"`
}

func (l *lab) blocks() (map[string]block, error) {
	out, err := l.sh(`ip netns exec "$(loop_victim_ns 1)" curl -fsS --max-time 3 http://127.0.0.1:9818/api/v1/blocks`)
	if err != nil {
		return nil, err
	}
	var resp struct {
		Blocks []block `json:"blocks"`
	}
	if err := json.Unmarshal([]byte(out), &resp); err != nil {
		return nil, fmt.Errorf("decode /api/v1/blocks: %w: %s", err, out)
	}
	m := map[string]block{}
	for _, b := range resp.Blocks {
		m[b.Prefix] = b
	}
	return m, nil
}

// firewalldDrops is what the victim's firewalld itself drops (zone sources
// and the entries of ipsets bound to the zone).
func (l *lab) firewalldDrops() (map[string]bool, error) {
	out, err := l.sh(`loop_fw_blocked 1`)
	if err != nil {
		return nil, err
	}
	m := map[string]bool{}
	for _, f := range strings.Fields(out) {
		m[f] = true
	}
	return m, nil
}

// controlLog reads the control host's lines: time and whether it was served.
func (l *lab) controlLog(state string) []struct {
	at time.Time
	ok bool
} {
	f, err := os.Open(filepath.Join(state, "logs", "control1.log"))
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []struct {
		at time.Time
		ok bool
	}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) < 2 {
			continue
		}
		ms, err := strconv.ParseInt(fs[0], 10, 64)
		if err != nil {
			continue
		}
		out = append(out, struct {
			at time.Time
			ok bool
		}{time.UnixMilli(ms), fs[1] == "ok"})
	}
	return out
}

// waitFor polls cond every 500 ms until it holds or timeout passes.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	last := ""
	for {
		ok, state := cond()
		if ok {
			t.Logf("%s: yes (%s)", what, state)
			return
		}
		last = state
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s; last seen: %s", what, timeout, last)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

var syncookieRe = regexp.MustCompile(`^synguard_syn_recv_sockets\{family="ipv4",prefix="([^"]+)"\} (\d+)`)

// exporterCounts reads the exporter's per-prefix counts straight from it.
func (l *lab) exporterCounts() (map[string]int, error) {
	out, err := l.sh(`ip netns exec "$(loop_victim_ns 1)" curl -fsS --max-time 3 http://127.0.0.1:9817/metrics`)
	if err != nil {
		return nil, err
	}
	m := map[string]int{}
	for _, line := range strings.Split(out, "\n") {
		if s := syncookieRe.FindStringSubmatch(line); s != nil && s[1] != "other" {
			if n, _ := strconv.Atoi(s[2]); n > 0 {
				m[s[1]] = n
			}
		}
	}
	return m, nil
}

func (l *lab) ssCounts() (map[string]int, error) {
	out, err := l.sh(`loop_ss_counts 1`)
	if err != nil {
		return nil, err
	}
	m := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		fs := strings.Fields(line)
		if len(fs) == 2 {
			m[fs[0]], _ = strconv.Atoi(fs[1])
		}
	}
	return m, nil
}

func need(t *testing.T, cmds ...string) {
	t.Helper()
	var missing []string
	for _, c := range cmds {
		if _, err := exec.LookPath(c); err != nil {
			missing = append(missing, c)
		}
	}
	if len(missing) == 0 {
		return
	}
	msg := fmt.Sprintf("missing %s (Debian packages: see .ci/packages)", strings.Join(missing, ", "))
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

func fmtCounts(m map[string]int) string {
	var ks []string
	for k, v := range m {
		ks = append(ks, fmt.Sprintf("%s=%d", k, v))
	}
	sort.Strings(ks)
	return strings.Join(ks, " ")
}

func sameCounts(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
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
	if os.Geteuid() != 0 {
		t.Skip("needs root: network namespaces, a private firewalld, raw sockets (CI runs as root)")
	}
	need(t, "ip", "nft", "ss", "curl", "jq", "dbus-daemon", "firewalld", "firewall-cmd",
		"prometheus", "prometheus-alertmanager", "promtool", "chromium", "make", "go")
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	base := t.TempDir()
	state := filepath.Join(base, "lab")
	name := fmt.Sprintf("sgle%d", os.Getpid()%100000)
	l := &lab{t: t, repo: repo, env: []string{
		"LOOP_NAME=" + name,
		"LOOP_STATE=" + state,
		"LOOP_BIN=" + filepath.Join(base, "bin"),
		"LOOP_SECONDS=600",
		"LOOP_BLOCK_DURATION=" + blockDuration.String(),
	}}
	t.Cleanup(func() {
		if _, err := l.sh("loop_down"); err != nil {
			t.Errorf("cleanup: %v", err)
		}
		if t.Failed() {
			for _, f := range []string{"responder1.log", "exporter1.log", "alertmanager.log"} {
				if b, err := os.ReadFile(filepath.Join(state, "logs", f)); err == nil {
					if len(b) > 4000 {
						b = b[len(b)-4000:]
					}
					t.Logf("--- tail of %s:\n%s", f, b)
				}
			}
		}
	})

	t0 := time.Now()
	l.must("loop_build")
	t.Logf("built in %s", time.Since(t0).Round(time.Second))
	l.must("loop_init && loop_net_up && loop_victim_up 1 && loop_mon_up 1 && loop_control_up 1")
	if _, err := l.sh(`[ -x "$(loop_binary responder)" ]`); err != nil {
		t.Fatal("no synguard-responder binary: the loop cannot close")
	}
	l.must("loop_targets_up 1 30")
	t.Logf("lab up in %s", time.Since(t0).Round(time.Second))
	if os.Getenv("SYNGUARD_E2E_BREAK") == "responder" {
		l.must("loop_kill responder1")
		t.Log("SYNGUARD_E2E_BREAK=responder: responder stopped")
	}

	controlIP := netip.MustParseAddr(strings.TrimSpace(l.must("loop_control_ip 1")))
	// controlNeverBlocked checks the responder's and firewalld's blocks.
	controlNeverBlocked := func(where string, prefixes map[string]bool) {
		t.Helper()
		for p := range prefixes {
			if pp, err := netip.ParsePrefix(p); err == nil && pp.Contains(controlIP) {
				t.Fatalf("control host %s blocked by %s in %s", controlIP, p, where)
			}
		}
	}

	waitFor(t, "SMTP probe succeeds before the flood", 30*time.Second, func() (bool, string) {
		v := l.promValue(`synguard_probe_success{module="smtp"}`)
		return v == "1", "synguard_probe_success{module=smtp}=" + v
	})

	// Flood 1.
	l.must("loop_flood_start 1")
	flood1 := time.Now()
	// Per-prefix counts equal ss's: read ss, the exporter, ss again, and
	// compare when the two ss readings agree (the queue churns as sockets
	// expire and new SYNs take their place).
	waitFor(t, "exporter's per-prefix counts equal ss's", 30*time.Second, func() (bool, string) {
		s1, err1 := l.ssCounts()
		e, err2 := l.exporterCounts()
		s2, err3 := l.ssCounts()
		if err1 != nil || err2 != nil || err3 != nil {
			return false, fmt.Sprint(err1, err2, err3)
		}
		state := fmt.Sprintf("ss %s, exporter %s, ss %s", fmtCounts(s1), fmtCounts(e), fmtCounts(s2))
		return s1[floodA] > 0 && s1[floodB] > 0 && sameCounts(s1, s2) && sameCounts(s1, e), state
	})

	waitFor(t, "SMTP probe fails during the flood", 20*time.Second, func() (bool, string) {
		v := l.promValue(`synguard_probe_success{module="smtp"}`)
		return v == "0", "synguard_probe_success{module=smtp}=" + v
	})

	// Both /27s blocked, in the responder and in firewalld itself.
	var first map[string]block
	waitFor(t, "both /27s blocked in the victim's firewalld", 120*time.Second, func() (bool, string) {
		bs, err := l.blocks()
		if err != nil {
			return false, err.Error()
		}
		applied := map[string]bool{}
		for p, b := range bs {
			if b.Applied {
				applied[p] = true
			}
		}
		controlNeverBlocked("the responder", applied)
		if !applied[floodA] || !applied[floodB] {
			return false, fmt.Sprintf("responder blocks %v", applied)
		}
		fw, err := l.firewalldDrops()
		if err != nil {
			return false, err.Error()
		}
		controlNeverBlocked("firewalld", fw)
		first = bs
		return fw[floodA] && fw[floodB], fmt.Sprintf("firewalld drops %v", fw)
	})
	blocked1 := time.Now()
	t.Logf("flood to both blocks: %s", blocked1.Sub(flood1).Round(100*time.Millisecond))

	// With the flood still running: SMTP answers again, and the control
	// host is served.
	waitFor(t, "SMTP probe succeeds again after the blocks", 40*time.Second, func() (bool, string) {
		v := l.promValue(`synguard_probe_success{module="smtp"}`)
		return v == "1", "synguard_probe_success{module=smtp}=" + v
	})
	waitFor(t, "control host served after the blocks", 30*time.Second, func() (bool, string) {
		lines := l.controlLog(state)
		for _, c := range lines {
			if c.ok && c.at.After(blocked1) {
				return true, "served at " + c.at.Format(time.TimeOnly)
			}
		}
		return false, fmt.Sprintf("%d sessions, none served since the blocks", len(lines))
	})

	statusPage(t, l, repo)

	// The flood stops; the blocks expire.
	l.must("loop_flood_stop 1")
	waitFor(t, "blocks expire after the flood stops", blockDuration+40*time.Second, func() (bool, string) {
		bs, err := l.blocks()
		if err != nil {
			return false, err.Error()
		}
		fw, err := l.firewalldDrops()
		if err != nil {
			return false, err.Error()
		}
		_, a := bs[floodA]
		_, b := bs[floodB]
		return !a && !b && !fw[floodA] && !fw[floodB], fmt.Sprintf("responder %d blocks, firewalld %v", len(bs), fw)
	})

	// The flood resumes: blocked again, for longer.
	l.must("loop_flood_start 1")
	waitFor(t, "resumed flood blocked again, for longer", 120*time.Second, func() (bool, string) {
		bs, err := l.blocks()
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
		fw, err := l.firewalldDrops()
		if err != nil {
			return false, err.Error()
		}
		controlNeverBlocked("firewalld", fw)
		return fw[floodA] && fw[floodB], strings.Join(state, "; ")
	})
	l.must("loop_flood_stop 1")
	t.Logf("whole scenario in %s", time.Since(t0).Round(time.Second))
}

// statusPage renders the responder's status page in headless Chromium,
// checks that it lists both blocked prefixes, and keeps a screenshot in
// out/ as the test's artifact.
func statusPage(t *testing.T, l *lab, repo string) {
	t.Helper()
	out := filepath.Join(repo, "out")
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	profile := t.TempDir()
	chromium := fmt.Sprintf(`ip netns exec "$(loop_victim_ns 1)" timeout 90 chromium --headless --no-sandbox --disable-gpu `+
		`--disable-background-networking --disable-component-update --disable-sync --no-first-run `+
		`--user-data-dir=%s --window-size=1280,800 --virtual-time-budget=3000`, profile)
	dom := l.must(chromium + ` --dump-dom http://127.0.0.1:9818/status 2>/dev/null`)
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
	l.must(chromium + " --screenshot=" + shot + ` http://127.0.0.1:9818/status >/dev/null 2>&1`)
	if fi, err := os.Stat(shot); err != nil || fi.Size() == 0 {
		t.Errorf("no screenshot of the status page at %s: %v", shot, err)
	} else {
		t.Logf("status page renders both blocks; screenshot %s", shot)
	}
}
