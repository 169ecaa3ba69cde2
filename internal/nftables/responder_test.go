package nftables_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/synguard/synguard/internal/daemontest"
	"github.com/synguard/synguard/internal/fixtures"
	"github.com/synguard/synguard/internal/lab"
)

// TestResponder runs the synguard-responder binary with firewall.backend:
// nftables inside the lab's victim namespace and drives it by its webhook
// with a recorded Alertmanager body: the block reaches table inet
// synguard and stops the attacker, the drop counters are exported, the
// table comes back after `nft flush ruleset`, and purge deletes it.
func TestResponder(t *testing.T) {
	l := startTraffic(t)
	dir := t.TempDir()
	bin := filepath.Join(dir, "synguard-responder")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/responder").CombinedOutput(); err != nil {
		t.Fatalf("build the responder: %v: %s", err, out)
	}
	cfg := filepath.Join(dir, "responder.yml")
	if err := os.WriteFile(cfg, []byte("state_file: "+filepath.Join(dir, "state.json")+`
firewall:
  backend: nftables
  reconcile_interval: 2s
# Inside the lab's namespace, on its loopback: no token (the responder
# refuses a route without one unless it is opened by name).
insecure_open_routes: [webhook, api]
`), 0o600); err != nil {
		t.Fatal(err)
	}
	const addr = "127.0.0.1:19818"
	inNS := func(args ...string) *exec.Cmd {
		return exec.Command("ip", append([]string{"netns", "exec", l.NS, bin}, args...)...)
	}
	srv := inNS("--config.file="+cfg, "--web.listen-address="+addr)
	logs := &strings.Builder{}
	srv.Stdout, srv.Stderr = logs, logs
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		_ = srv.Process.Signal(syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { done <- srv.Wait() }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = srv.Process.Kill()
			<-done
			t.Error("the responder did not stop within 10s of SIGTERM")
		}
	}
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			t.Logf("responder log:\n%s", logs)
		}
	})
	// An HTTP client whose connections are made inside the victim
	// namespace, where the responder listens on loopback.
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, a string) (net.Conn, error) {
			var c net.Conn
			err := lab.InNetns(l.NS, func() error {
				var err error
				c, err = (&net.Dialer{}).DialContext(ctx, network, a)
				return err
			})
			return c, err
		},
	}}
	get := func(path string) (string, error) {
		resp, err := client.Get("http://" + addr + path)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return string(b), err
	}
	waitUntil := func(what string, within time.Duration, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(within); !cond(); time.Sleep(100 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out after %v waiting for %s", within, what)
			}
		}
	}
	waitUntil("the responder to serve", 20*time.Second, func() bool { _, err := get("/metrics"); return err == nil })
	table := func() string {
		out, _ := exec.Command("ip", "netns", "exec", l.NS, "nft", "list", "table", "inet", "synguard").CombinedOutput()
		return string(out)
	}
	resp, err := client.Post("http://"+addr+"/webhook", "application/json", strings.NewReader(string(fixtures.Webhook(t, "firing.json"))))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("webhook answered %d: %s", resp.StatusCode, body)
	}
	waitUntil("the block in table inet synguard", 10*time.Second, func() bool { return strings.Contains(table(), lab.Block4.String()) })
	if !strings.Contains(table(), "timeout") {
		t.Errorf("the block carries no kernel timeout:\n%s", table())
	}
	if err := l.WaitBlocked(lab.Attacker4, 5*time.Second); err != nil {
		t.Errorf("attacker after the block: %v", err)
	}
	if err := l.Reach(lab.Control4); err != nil {
		t.Errorf("control after the block: %v", err)
	}
	m, err := get("/metrics")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(m, `synguard_responder_nftables_dropped_packets_total{family="ipv4",hook="prerouting"}`) {
		t.Errorf("no drop counter in /metrics")
	}
	if !strings.Contains(m, `backend="nftables"`) {
		t.Errorf("no series with backend=\"nftables\" in /metrics")
	}
	// The backend's own families, values masked: tools/dashcheck reads
	// this golden to check the dashboard's nftables panel against what the
	// binary really exports (go test -update rewrites it).
	daemontest.Golden(t, filepath.Join("testdata", "responder-metrics.txt"), nftablesFamilies(m))
	// Someone flushes the ruleset: the responder puts its table back.
	if _, err := nftIn(l.NS, "flush ruleset\n"); err != nil {
		t.Fatal(err)
	}
	waitUntil("the table restored after nft flush ruleset", 10*time.Second, func() bool { return strings.Contains(table(), lab.Block4.String()) })
	if err := l.WaitBlocked(lab.Attacker4, 5*time.Second); err != nil {
		t.Errorf("attacker after the restore: %v", err)
	}
	stop()
	// The block outlives the responder (it is the kernel's), until purge.
	if !strings.Contains(table(), lab.Block4.String()) {
		t.Errorf("the block went with the responder:\n%s", table())
	}
	if out, err := inNS("--config.file="+cfg, "purge").CombinedOutput(); err != nil {
		t.Fatalf("purge: %v: %s", err, out)
	}
	if out := table(); !strings.Contains(out, "No such file") {
		t.Errorf("table inet synguard still there after purge:\n%s", out)
	}
	if err := l.WaitReach(lab.Attacker4, 5*time.Second); err != nil {
		t.Errorf("attacker after purge: %v", err)
	}
}

// nftablesFamilies keeps the HELP, TYPE and sample lines of the
// synguard_responder_nftables_* families of a /metrics answer, each sample's
// value replaced by <n> (packets counted depend on the flood's timing).
func nftablesFamilies(metrics string) string {
	var b strings.Builder
	for _, line := range strings.Split(metrics, "\n") {
		name := strings.TrimPrefix(strings.TrimPrefix(line, "# HELP "), "# TYPE ")
		if !strings.HasPrefix(name, "synguard_responder_nftables_") {
			continue
		}
		if !strings.HasPrefix(line, "# ") {
			if i := strings.LastIndexByte(line, ' '); i > 0 {
				line = line[:i] + " <n>"
			}
		}
		b.WriteString(line + "\n")
	}
	return b.String()
}
