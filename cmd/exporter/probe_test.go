package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestProbes runs the exporter with a probes section: background probes
// show in /metrics, /probe answers blackbox-style, a reload restarts the
// scheduler with the new targets, and a bad probes section is refused with
// file:line while the running probes go on.
func TestProbes(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			fmt.Fprint(c, "+OK ready\r\n")
			go func() { _, _ = io.Copy(io.Discard, c); c.Close() }()
		}
	}()
	open := ln.Addr().String()
	cfg := filepath.Join(t.TempDir(), "exporter.yml")
	write := func(targets string) {
		s := "probes:\n  modules:\n    pop3: {prober: pop3, timeout: 1s}\n  targets:\n" + targets
		if err := os.WriteFile(cfg, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(fmt.Sprintf("    - {module: pop3, target: %q, interval: 1s}\n", open))
	e := startExporter(t, "--path.procfs=testdata/proc", "--collector.syn-recv.source=procfs", "--config.file="+cfg, "--web.enable-lifecycle")
	waitFor := func(want string) string {
		t.Helper()
		var m string
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			if m = e.Get(t, "/metrics"); strings.Contains(m, want) {
				return m
			}
		}
		t.Fatalf("/metrics never showed %q:\n%s", want, m)
		return ""
	}
	waitFor(fmt.Sprintf(`synguard_probe_success{module="pop3",target=%q} 1`, open))

	// /probe answers with blackbox_exporter's names (internal/probe).
	if s := e.Get(t, "/probe?module=pop3&target="+open); !strings.Contains(s, "\nprobe_success 1") ||
		!strings.Contains(s, "\nprobe_duration_seconds ") || strings.Contains(s, "synguard_probe_") {
		t.Errorf("/probe:\n%s", s)
	}
	if resp, err := http.Get(e.URL + "/probe?module=nope&target=" + open); err != nil || resp.StatusCode != http.StatusBadRequest {
		t.Errorf("/probe with an unknown module: %v %v, want 400", resp, err)
	}

	// Reload: a second target (refused) joins; the first keeps its series.
	refused := "127.0.0.1:1"
	write(fmt.Sprintf("    - {module: pop3, target: %q, interval: 1s}\n    - {module: pop3, target: %q, interval: 1s}\n", open, refused))
	resp, err := http.Post(e.URL+"/-/reload", "", nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("reload: %v %v", resp, err)
	}
	m := waitFor(fmt.Sprintf(`synguard_probe_success{module="pop3",target=%q} 0`, refused))
	if !strings.Contains(m, "synguard_probe_targets 2") {
		t.Errorf("after reload:\n%s", m)
	}

	// A bad probes section is refused with file:line; the probes go on.
	write("    - {module: pop4, target: \"127.0.0.1:110\"}\n")
	resp, err = http.Post(e.URL+"/-/reload", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 500 || !strings.Contains(string(body), cfg+`:5: target "127.0.0.1:110" uses unknown module "pop4"`) {
		t.Fatalf("bad reload: %d %s", resp.StatusCode, body)
	}
	if m := e.Get(t, "/metrics"); !strings.Contains(m, "synguard_probe_targets 2") {
		t.Errorf("probes changed after a refused reload:\n%s", m)
	}
}
