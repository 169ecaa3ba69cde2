package lab

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Loop is the whole loop's lab, driven through test/lab/loop.sh (and
// test/lab/fleet.sh, which builds on it): each call is a fresh bash that
// sources the script, with this lab's LOOP_* environment. The shell sets
// the lab up and reads it; the tests assert in Go.
type Loop struct {
	t testing.TB
	// Repo is the repository root; State the lab's state directory (configs,
	// logs, PIDs); Name the prefix of its namespaces.
	Repo, State, Name string
	env               []string
	script            string
}

// LoopOptions tune a Loop.
type LoopOptions struct {
	// Fleet sources test/lab/fleet.sh (the fleet's functions too) instead of
	// test/lab/loop.sh.
	Fleet bool
	// Env is more LOOP_*/FLEET_* settings, "KEY=VALUE".
	Env []string
}

// NewLoop prepares a loop lab named with prefix plus this process's PID
// (namespaces PREFIX<pid>-v1, -att, -mon), its state and binaries in a
// temporary directory. It skips the test without root or a tool the loop
// needs. Nothing is started yet: call Build and the loop_* stages (Must).
// Cleanup runs loop_down (every recorded PID stopped, every namespace
// deleted) and, when the test failed, logs the tail of the daemons' logs.
func NewLoop(t testing.TB, prefix string, opt LoopOptions) *Loop {
	t.Helper()
	// What test/lab/loop.sh runs: a private firewalld per victim, Debian's
	// Prometheus and Alertmanager, the build.
	Need(t, "builds the whole loop between network namespaces (private firewalld, Prometheus, Alertmanager)",
		"ip", "nft", "ss", "tc", "curl", "jq", "dbus-daemon", "firewalld", "firewall-cmd",
		"prometheus", "prometheus-alertmanager", "promtool", "amtool", "make", "go")
	repo, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	base := t.TempDir()
	l := &Loop{
		t: t, Repo: repo, State: filepath.Join(base, "lab"),
		Name:   fmt.Sprintf("%s%d", prefix, os.Getpid()%100000),
		script: "test/lab/loop.sh",
	}
	if opt.Fleet {
		l.script = "test/lab/fleet.sh"
	}
	l.env = append([]string{
		"LOOP_NAME=" + l.Name,
		"LOOP_STATE=" + l.State,
		"LOOP_BIN=" + filepath.Join(base, "bin"),
		"LOOP_SECONDS=900",
	}, opt.Env...)
	t.Cleanup(func() {
		if _, err := l.Sh("loop_down"); err != nil {
			t.Errorf("loop_down: %v", err)
		}
		if t.Failed() {
			l.logTails()
		}
	})
	return l
}

// RepoRoot finds the repository root: the nearest directory above the
// working directory holding synguard's go.mod.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil &&
			bytes.HasPrefix(b, []byte("module github.com/synguard/synguard\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("lab: no synguard go.mod above the working directory")
		}
		dir = parent
	}
}

func (l *Loop) logTails() {
	logs, _ := filepath.Glob(filepath.Join(l.State, "logs", "*.log"))
	for _, f := range logs {
		base := filepath.Base(f)
		if !strings.HasPrefix(base, "responder") && !strings.HasPrefix(base, "exporter") &&
			!strings.HasPrefix(base, "alertmanager") && !strings.HasPrefix(base, "am") {
			continue
		}
		if b, err := os.ReadFile(f); err == nil {
			if len(b) > 3000 {
				b = b[len(b)-3000:]
			}
			l.t.Logf("--- tail of %s:\n%s", base, b)
		}
	}
}

// Sh runs script (bash, after sourcing the lab's script) in the
// repository, bounded to 3 minutes, and returns its stdout.
func (l *Loop) Sh(script string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", `set -o pipefail; . `+l.script+`; `+script)
	cmd.Dir = l.Repo
	cmd.Env = append(os.Environ(), l.env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("%s: %w\n%s%s", script, err, out.String(), errb.String())
	}
	return out.String(), nil
}

// Must is Sh that fails the test on an error.
func (l *Loop) Must(script string) string {
	l.t.Helper()
	out, err := l.Sh(script)
	if err != nil {
		l.t.Fatal(err)
	}
	return out
}

// OK reports whether script succeeds (a shell predicate).
func (l *Loop) OK(script string) bool {
	_, err := l.Sh(script)
	return err == nil
}

// Int is the integer script prints (0 when it fails or prints none).
func (l *Loop) Int(script string) int {
	out, err := l.Sh(script)
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(strings.TrimSpace(out))
	return n
}

// Build builds the synguard binaries and the lab's tools (loop_build).
func (l *Loop) Build() {
	l.t.Helper()
	t0 := time.Now()
	l.Must("loop_build")
	l.t.Logf("built in %s", time.Since(t0).Round(time.Second))
}

// PromValue is the value of expr's first series in the lab's Prometheus,
// or "" when there is none.
func (l *Loop) PromValue(expr string) string {
	out, err := l.Sh(fmt.Sprintf("loop_prom_scalar %q", expr))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(out)
}

// PromTrue reports whether expr returns at least one series.
func (l *Loop) PromTrue(expr string) bool { return l.OK(fmt.Sprintf("loop_prom_true %q", expr)) }

// Block is a block as the responder's API lists it.
type Block struct {
	Prefix   string    `json:"prefix"`
	Since    time.Time `json:"since"`
	Expiry   time.Time `json:"expiry"`
	Offences int       `json:"offences"`
	Applied  bool      `json:"applied"`
}

// Blocks are victim i's responder's blocks by prefix.
func (l *Loop) Blocks(i int) (map[string]Block, error) {
	out, err := l.Sh(fmt.Sprintf(`ip netns exec "$(loop_victim_ns %d)" curl -fsS --max-time 3 http://127.0.0.1:9818/api/v1/blocks`, i))
	if err != nil {
		return nil, err
	}
	var resp struct {
		Blocks []Block `json:"blocks"`
	}
	if err := json.Unmarshal([]byte(out), &resp); err != nil {
		return nil, fmt.Errorf("decode /api/v1/blocks: %w: %s", err, out)
	}
	m := map[string]Block{}
	for _, b := range resp.Blocks {
		m[b.Prefix] = b
	}
	return m, nil
}

// FirewalldDrops is what victim i's firewalld itself drops, each prefix
// with how many times firewalld lists it (zone sources and the entries of
// ipsets bound to the zone).
func (l *Loop) FirewalldDrops(i int) (map[string]int, error) {
	out, err := l.Sh(fmt.Sprintf("loop_fw_blocked %d", i))
	if err != nil {
		return nil, err
	}
	m := map[string]int{}
	for _, f := range strings.Fields(out) {
		m[f]++
	}
	return m, nil
}

var socketsRe = regexp.MustCompile(`^synguard_syn_recv_sockets\{family="ipv4",prefix="([^"]+)"\} (\d+)`)

// ExporterCounts are victim i's exporter's IPv4 SYN_RECV sockets per
// prefix (non-zero, "other" left out), read straight from its /metrics.
func (l *Loop) ExporterCounts(i int) (map[string]int, error) {
	out, err := l.Sh(fmt.Sprintf(`ip netns exec "$(loop_victim_ns %d)" curl -fsS --max-time 3 http://127.0.0.1:9817/metrics`, i))
	if err != nil {
		return nil, err
	}
	m := map[string]int{}
	for _, line := range strings.Split(out, "\n") {
		if s := socketsRe.FindStringSubmatch(line); s != nil && s[1] != "other" {
			if n, _ := strconv.Atoi(s[2]); n > 0 {
				m[s[1]] = n
			}
		}
	}
	return m, nil
}

// SSCounts are victim i's SYN_RECV sockets per /27 as ss shows them.
func (l *Loop) SSCounts(i int) (map[string]int, error) {
	out, err := l.Sh(fmt.Sprintf("loop_ss_counts %d", i))
	if err != nil {
		return nil, err
	}
	m := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if fs := strings.Fields(line); len(fs) == 2 {
			m[fs[0]], _ = strconv.Atoi(fs[1])
		}
	}
	return m, nil
}

// Session is one SMTP session of a control host.
type Session struct {
	At     time.Time
	Served bool
}

// ControlLog is control host i's sessions so far (logs/control<i>.log).
func (l *Loop) ControlLog(i int) []Session {
	f, err := os.Open(filepath.Join(l.State, "logs", fmt.Sprintf("control%d.log", i)))
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []Session
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
		out = append(out, Session{At: time.UnixMilli(ms), Served: fs[1] == "ok"})
	}
	return out
}

// WaitFor polls cond every 500 ms until it holds (logging the state it
// reported) or timeout passes (failing the test with the last state).
func WaitFor(t testing.TB, what string, timeout time.Duration, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, state := cond()
		if ok {
			t.Logf("%s: yes (%s)", what, state)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s; last seen: %s", what, timeout, state)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// StartLoop builds the binaries and brings up the whole loop with one
// victim (loop_net_up, loop_victim_up 1, loop_mon_up 1, loop_control_up 1)
// and waits until Prometheus scrapes it; see NewLoop for the skips and the
// cleanup. It fails the test when no responder was built: the loop cannot
// close without one.
func StartLoop(t testing.TB, prefix string, opt LoopOptions) *Loop {
	t.Helper()
	l := NewLoop(t, prefix, opt)
	t0 := time.Now()
	l.Build()
	l.Must("loop_init && loop_net_up && loop_victim_up 1 && loop_mon_up 1 && loop_control_up 1")
	if !l.OK(`[ -x "$(loop_binary responder)" ]`) {
		t.Fatal("no synguard-responder binary: the loop cannot close")
	}
	l.Must("loop_targets_up 1 30")
	t.Logf("lab up in %s", time.Since(t0).Round(time.Second))
	return l
}
