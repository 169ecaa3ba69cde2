package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/synguard/synguard/internal/daemontest"
	"github.com/synguard/synguard/internal/origin/origintest"
)

// startExporter runs the whole program in-process on a loopback port
// (daemontest.Start).
func startExporter(t *testing.T, args ...string) *daemontest.Daemon {
	t.Helper()
	return daemontest.Start(t, "exporter", func(ctx context.Context, env daemontest.Env) int {
		m := NewMain(env.Stdout, env.Logs)
		m.Listener, m.Ready = env.Listener, env.Ready
		return m.Main(ctx, args)
	})
}

// masks replace values that legitimately differ between runs: how long a
// collector took, when the config was loaded, and the toolchain in the
// build_info labels. Each keeps the series, so a renamed or lost metric
// still shows in the diff.
var masks = []struct {
	re   *regexp.Regexp
	repl string
}{
	{regexp.MustCompile(`(?m)^(synguard_scrape_collector_duration_seconds\{[^}]*\}) .*$`), "$1 <duration>"},
	{regexp.MustCompile(`(?m)^(synguard_exporter_config_last_reload_success_timestamp_seconds) .*$`), "$1 <timestamp>"},
	{regexp.MustCompile(`(?m)^(synguard_exporter_build_info)\{.*\} 1$`), "$1{<build labels>} 1"},
	// Probes run in the background: how long, when and how often vary.
	{regexp.MustCompile(`(?m)^(synguard_probe_(?:duration_seconds|phase_duration_seconds|last_run_timestamp_seconds|runs_total|failures_total)\{[^}]*\}) .*$`), "$1 <varies>"},
	{regexp.MustCompile(`(?m)^(synguard_probe_in_flight) .*$`), "$1 <varies>"},
}

func mask(s string) string {
	for _, m := range masks {
		s = m.re.ReplaceAllString(s, m.repl)
	}
	return s
}

func fixtureArgs(procPath string) []string {
	return []string{
		"--path.procfs=" + procPath,
		"--collector.syn-recv.source=procfs",
		"--config.file=testdata/config.yml",
		"--web.disable-exporter-metrics",
	}
}

// buildExporter builds the synguard-exporter binary.
func buildExporter(t *testing.T) string {
	t.Helper()
	return daemontest.Build(t, ".", "synguard-exporter")
}

// TestEndToEnd is the golden test: the built binary on the fixture procfs
// under testdata/proc, /metrics compared with testdata/e2e-output.txt and
// /metrics?collect[]=syn_recv with testdata/e2e-syn-recv.txt (go test
// ./cmd/exporter -run TestEndToEnd -update rewrites them), and the
// raw output checked by promtool when it is installed.
func TestEndToEnd(t *testing.T) {
	if daemontest.Update() {
		if _, _, err := origintest.Fixtures(filepath.Join("testdata", "origin")); err != nil {
			t.Fatal(err)
		}
	}
	e := daemontest.Run(t, buildExporter(t), fixtureArgs("testdata/proc")...)
	raw := e.Get(t, "/metrics")
	// The fixture's probe runs within its 1s interval of the start.
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(raw, "synguard_probe_success{") && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
		raw = e.Get(t, "/metrics")
	}
	daemontest.Golden(t, filepath.Join("testdata", "e2e-output.txt"), mask(raw))
	// The 1 s job's fast path: SYN_RECV and its collector's duration and
	// success only (deploy/prometheus/prometheus.yml).
	daemontest.Golden(t, filepath.Join("testdata", "e2e-syn-recv.txt"), mask(e.Get(t, "/metrics?collect[]=syn_recv")))
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool not installed: metrics not linted")
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(raw)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}

func TestLandingReloadHealth(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "exporter.yml")
	write := func(s string) {
		if err := os.WriteFile(cfg, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("syn_recv:\n  top_n: 1\n")
	e := startExporter(t, "--path.procfs=testdata/proc", "--collector.syn-recv.source=procfs", "--config.file="+cfg, "--web.enable-lifecycle")
	if s := e.Get(t, "/"); !strings.Contains(s, "synguard exporter") || !strings.Contains(s, "/metrics") {
		t.Errorf("landing page lacks name or metrics link:\n%s", s)
	}
	e.Get(t, "/-/healthy")
	count := func() int {
		return strings.Count(e.Get(t, "/metrics"), `synguard_syn_recv_sockets{family="ipv4"`)
	}
	if n := count(); n != 2 { // top 1 + other
		t.Fatalf("top_n 1: %d ipv4 series, want 2", n)
	}
	// A good reload over HTTP applies; a bad one is refused with file:line
	// and keeps the running configuration.
	write("syn_recv:\n  top_n: 3\n")
	post := func() (int, string) {
		resp, err := http.Post(e.URL+"/-/reload", "", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := post(); code != 200 {
		t.Fatalf("reload: %d %s", code, body)
	}
	if n := count(); n != 4 {
		t.Fatalf("top_n 3 after reload: %d ipv4 series, want 4", n)
	}
	write("syn_recv:\n  top_n: 3\n  allowlist: [nope]\n")
	code, body := post()
	if code != 500 || !strings.Contains(body, cfg+":3: ") {
		t.Fatalf("bad reload: %d %q, want 500 naming %s:3", code, body, cfg)
	}
	if n := count(); n != 4 {
		t.Fatalf("after a bad reload: %d ipv4 series, want the old 4", n)
	}
	if m := e.Get(t, "/metrics"); !strings.Contains(m, "synguard_exporter_config_last_reload_successful 0") {
		t.Error("failed reload not reported")
	}
	if !strings.Contains(e.Logs.String(), cfg+":3: ") {
		t.Errorf("bad reload not logged with file:line:\n%s", e.Logs)
	}
	if resp, err := http.Get(e.URL + "/-/reload"); err != nil || resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET /-/reload: %v %v, want 405", resp, err)
	}
}

// copyFixture copies testdata/proc into a temp dir, keeping its links, so a
// test can break one file.
func copyFixture(t *testing.T) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "proc")
	cmd := exec.Command("cp", "-a", "testdata/proc", dst)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("copy fixture: %v %s", err, out)
	}
	return dst
}

func TestBadInput(t *testing.T) {
	tests := []struct {
		name    string
		breakIt func(t *testing.T, proc string)
		wantLog string
	}{
		{name: "corrupt tcp line", breakIt: func(t *testing.T, proc string) {
			f, err := os.OpenFile(filepath.Join(proc, "1/net/tcp"), os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if _, err := f.WriteString("  16: 016433C6:0019 XXXXXXXX:9C4D 03 00000000:00000000\n"); err != nil {
				t.Fatal(err)
			}
		}, wantLog: `net/tcp: line 18: remote address: malformed \"XXXXXXXX:9C4D\"`},
		{name: "missing tcp6", breakIt: func(t *testing.T, proc string) {
			if err := os.Remove(filepath.Join(proc, "1/net/tcp6")); err != nil {
				t.Fatal(err)
			}
		}, wantLog: `net/tcp6: no such file or directory`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			proc := copyFixture(t)
			tt.breakIt(t, proc)
			e := startExporter(t, fixtureArgs(proc)...)
			m := e.Get(t, "/metrics")
			for _, want := range []string{
				`synguard_scrape_collector_success{collector="syn_recv"} 0`,
				`synguard_scrape_collector_success{collector="tcpext"} 1`,
				`synguard_tcp_syncookies_sent_total 1234`,
			} {
				if !strings.Contains(m, want) {
					t.Errorf("metrics lack %s", want)
				}
			}
			if strings.Contains(m, "synguard_syn_recv_sockets") {
				t.Error("a failed syn_recv read still published per-prefix counts")
			}
			if l := e.Logs.String(); !strings.Contains(l, "collector failed") || !strings.Contains(l, tt.wantLog) {
				t.Errorf("log lacks %q:\n%s", tt.wantLog, l)
			}
		})
	}
}

func TestConfigCheck(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yml")
	if err := os.WriteFile(bad, []byte("syn_recv:\n  prefix_lengths:\n    ipv4: 0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if code := NewMain(&out, &errb).Main(context.Background(), []string{"--config.check", "--config.file=" + bad}); code != 1 ||
		!strings.Contains(errb.String(), bad+":3: syn_recv.prefix_lengths: ipv4 prefix length 0 out of range 1..32") {
		t.Fatalf("bad config: exit %d, stderr %q", code, errb.String())
	}
	out.Reset()
	if code := NewMain(&out, &errb).Main(context.Background(), []string{"--config.check", "--config.file=../../examples/exporter.yml"}); code != 0 ||
		!strings.Contains(out.String(), "config OK") {
		t.Fatalf("example config: exit %d, stdout %q", code, out.String())
	}
	// A bad config refuses to start, with the same file:line reason.
	errb.Reset()
	if code := NewMain(&out, &errb).Main(context.Background(), []string{"--config.file=" + bad, "--web.listen-address=127.0.0.1:0"}); code != 1 ||
		!strings.Contains(errb.String(), bad+":3:") {
		t.Fatalf("start with bad config: exit %d, stderr %q", code, errb.String())
	}
	if code := NewMain(&out, &errb).Main(context.Background(), []string{"--collector.syn-recv.source=carrier-pigeon"}); code != 2 {
		t.Fatalf("bad source flag: exit %d", code)
	}
	if code := NewMain(io.Discard, io.Discard).Main(context.Background(), []string{"--version"}); code != 0 {
		t.Fatalf("--version: exit %d", code)
	}
}
