package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// fleetResults is what scripts/fleet.sh writes to FLEET_RESULTS.
type fleetResults struct {
	Hosts     int `json:"hosts"`
	Threshold int `json:"threshold"`
	// CrossToBlockMS: the flood crossing the fleet threshold on the second
	// flooded host to the block in the last host's kernel.
	CrossToBlockMS int64 `json:"fleet_cross_to_block_ms"`
	StartToBlockMS int64 `json:"fleet_start_to_block_ms"`
	// The same, split at the moment Prometheus made the alert active.
	CrossToAlertMS  int64    `json:"fleet_cross_to_alert_ms"`
	AlertToBlockMS  int64    `json:"fleet_alert_to_block_ms"`
	HostToBlockMS   int64    `json:"host_start_to_block_ms"`
	KilledToBlockMS int64    `json:"killed_start_to_block_ms"`
	DupWebhooksAM1  int      `json:"dup_webhooks_am1"`
	DupWebhooksAM2  int      `json:"dup_webhooks_am2"`
	DupCounts       string   `json:"dup_counts"`
	SetupMS         int64    `json:"setup_ms"`
	Failures        []string `json:"failures"`
}

// fleetExitSkip is scripts/fleet.sh's exit status when it cannot run here.
const fleetExitSkip = 77

// TestFleet runs scripts/fleet.sh: three victims, each with its own private
// firewalld, services, exporter and responder; one Prometheus; two
// Alertmanagers clustered over their real gossip; an attacker namespace.
// The script asserts each step (see its header) and exits non-zero on any
// failed check; this test runs it, keeps its output, reports its figures
// and fails with the script's own list of failures. The 10 s target for
// the fleet block is reported, not asserted: speed targets belong to
// benchmarks (CONTRIBUTING.md), and CI shares its cores.
func TestFleet(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: network namespaces, private firewalld instances, raw sockets (CI runs as root)")
	}
	if testing.Short() {
		t.Skip("the fleet scenario takes about two minutes: not with -short")
	}
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	env := []string{
		fmt.Sprintf("LOOP_NAME=sgz%d", os.Getpid()%100000),
		"LOOP_STATE=" + filepath.Join(dir, "lab"),
		"LOOP_BIN=" + filepath.Join(dir, "bin"),
		"FLEET_RESULTS=" + filepath.Join(dir, "results.json"),
	}
	// The script removes everything it made on exit; this is the safety net
	// for a script killed before its trap could run.
	t.Cleanup(func() {
		cmd := exec.Command("bash", "-c", `. test/lab/loop.sh; loop_down`)
		cmd.Dir = repo
		cmd.Env = append(os.Environ(), env...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Logf("loop_down: %v\n%s", err, out)
		}
	})

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "scripts/fleet.sh")
	cmd.Dir = repo
	cmd.Env = append(os.Environ(), env...)
	// On timeout, SIGTERM first: the script's trap stops what it started.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 60 * time.Second
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err = cmd.Run()
	t.Logf("scripts/fleet.sh (%s):\n%s", time.Since(start).Round(time.Second), out.String())
	var exit *exec.ExitError
	if errors.As(err, &exit) && exit.ExitCode() == fleetExitSkip {
		t.Skip(lastLine(out.String()))
	}

	b, rerr := os.ReadFile(filepath.Join(dir, "results.json"))
	if rerr != nil {
		t.Fatalf("scripts/fleet.sh: %v; no results: %v", err, rerr)
	}
	var r fleetResults
	if derr := json.Unmarshal(b, &r); derr != nil {
		t.Fatalf("decode results %s: %v", b, derr)
	}
	if len(r.Failures) > 0 {
		t.Fatalf("fleet checks failed:\n%s", strings.Join(r.Failures, "\n"))
	}
	if err != nil {
		t.Fatalf("scripts/fleet.sh: %v", err)
	}
	if r.Hosts < 3 || r.CrossToBlockMS <= 0 || r.StartToBlockMS <= 0 || r.HostToBlockMS <= 0 || r.KilledToBlockMS <= 0 {
		t.Fatalf("results incomplete: %s", b)
	}
	if r.DupWebhooksAM1 < r.Hosts || r.DupWebhooksAM2 < r.Hosts {
		t.Errorf("with the gossip cut both Alertmanagers should notify every responder: am1 sent %d, am2 %d webhooks", r.DupWebhooksAM1, r.DupWebhooksAM2)
	}
	target := "met"
	if r.CrossToBlockMS >= 10000 {
		target = "MISSED"
	}
	t.Logf("fleet of %d hosts: prefix over %d sockets on the second host -> blocked in the last host's kernel: %d ms (target < 10 s: %s; %d ms to the alert in Prometheus, %d ms from there); flood start -> blocked everywhere %d ms; host-only block %d ms (host rule); with one Alertmanager SIGKILLed %d ms; duplicates per responder %s",
		r.Hosts, r.Threshold, r.CrossToBlockMS, target, r.CrossToAlertMS, r.AlertToBlockMS, r.StartToBlockMS, r.HostToBlockMS, r.KilledToBlockMS, r.DupCounts)
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}
