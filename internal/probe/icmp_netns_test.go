package probe

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/synguard/synguard/internal/lab"
)

// TestICMPModesInNetns runs TestICMPChild in fresh network namespaces (where
// net.ipv4.ping_group_range is the namespace's own), with and without
// CAP_NET_RAW, so each of DetectICMP's three outcomes happens for real: a
// ping socket, a raw socket, and neither (a clear error at Apply).
func TestICMPModesInNetns(t *testing.T) {
	lab.Need(t, "makes a network namespace and sets its ping_group_range", "unshare", "setpriv", "ip", "sysctl")
	const dropRaw = "setpriv --bounding-set -net_raw --inh-caps -net_raw "
	tests := []struct{ mode, pingRange, prefix string }{
		{mode: "unprivileged", pingRange: "0 2147483647", prefix: dropRaw},
		{mode: "raw", pingRange: "1 0"},
		{mode: "neither", pingRange: "1 0", prefix: dropRaw},
	}
	for _, tt := range tests {
		t.Run(tt.mode, func(t *testing.T) {
			script := `set -e; ip link set lo up; sysctl -qw net.ipv4.ping_group_range="` + tt.pingRange + `"; exec ` +
				tt.prefix + `"$0" -test.run '^TestICMPChild$' -test.count=1 -test.v`
			cmd := exec.Command("unshare", "--net", "sh", "-c", script, os.Args[0])
			cmd.Env = append(os.Environ(), "SGB_ICMP_CHILD="+tt.mode)
			out, err := cmd.CombinedOutput()
			if err != nil || !strings.Contains(string(out), "--- PASS: TestICMPChild") {
				t.Fatalf("child in netns (%s): %v\n%s", tt.mode, err, out)
			}
			t.Logf("%s", strings.TrimSpace(string(out)))
		})
	}
}

// TestICMPChild is TestICMPModesInNetns's other half; it runs only there.
func TestICMPChild(t *testing.T) {
	mode := os.Getenv("SGB_ICMP_CHILD")
	if mode == "" {
		t.Skip("runs inside TestICMPModesInNetns's network namespace")
	}
	cfg := loadConfig(t, "probes:\n  modules:\n    ping: {prober: icmp, timeout: 2s}\n  targets:\n    - {module: ping, target: 127.0.0.1, interval: 2s}\n")
	priv, err := DetectICMP(nil)
	switch mode {
	case "unprivileged", "raw":
		if err != nil || priv != (mode == "raw") {
			t.Fatalf("DetectICMP = privileged %v, %v; want mode %s", priv, err, mode)
		}
		m := cfg.Modules["ping"]
		r := (&Prober{ICMPPrivileged: priv}).Probe(context.Background(), "ping", &m, "127.0.0.1")
		if !r.Success {
			t.Fatalf("ping 127.0.0.1 with %s socket: %v", mode, r.Err)
		}
		t.Logf("ping 127.0.0.1 with %s socket: %s", mode, r.Duration)
	case "neither":
		err := NewManager(nil, nil).Apply(context.Background(), cfg)
		if err == nil || !strings.Contains(err.Error(), "ping_group_range") || !strings.Contains(err.Error(), "CAP_NET_RAW") {
			t.Fatalf("Apply = %v, want a clear icmp error", err)
		}
		t.Logf("Apply refused: %v", err)
	}
}
