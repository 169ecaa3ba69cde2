package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/synguard/synguard/internal/daemontest"
	"github.com/synguard/synguard/internal/firewalld/firewalldtest"
)

// hostileBody is an unauthenticated notification of nearly 4 MiB (the
// default max_body_bytes): alerts whose names and summaries are as long as
// the body allows, each for another prefix.
func hostileBody(i int) []byte {
	type alert struct {
		Status      string            `json:"status"`
		Labels      map[string]string `json:"labels"`
		Annotations map[string]string `json:"annotations"`
	}
	const n = 16
	pad := strings.Repeat("x", (4<<20)/(2*n)-512)
	var as []alert
	for j := range n {
		as = append(as, alert{"firing",
			map[string]string{"alertname": "Hostile" + pad, "action": "block", "prefix": fmt.Sprintf("198.51.100.%d/32", (i*n+j)%250)},
			map[string]string{"summary": pad}})
	}
	b, _ := json.Marshal(map[string]any{"version": "4", "status": "firing", "receiver": "x", "groupKey": "{}:{}", "alerts": as})
	return b
}

// rssMiB is the resident set size of process pid now.
func rssMiB(b *testing.B, pid int) float64 {
	b.Helper()
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, l := range strings.Split(string(st), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	b.Fatal("no VmRSS")
	return 0
}

// BenchmarkHostileWebhooks runs the responder binary (on the fake
// firewalld) and sends it 200 nearly-4 MiB unauthenticated webhooks one
// after another, then 16 at once, and reports its resident set size before
// and after each (target: under 64 MiB). Run by test/bench/hostile.sh.
func BenchmarkHostileWebhooks(b *testing.B) {
	_, addr := firewalldtest.Start(b)
	dir := b.TempDir()
	cfg := filepath.Join(dir, "responder.yml")
	if err := os.WriteFile(cfg, []byte("state_file: "+filepath.Join(dir, "state.json")+"\nfirewall:\n  keep_connections: true\n"+
		// Open, as before tokens were required: the bench measures what
		// bodies that are read cost, which a missing token never is.
		"insecure_open_routes: [webhook, api]\n"), 0o600); err != nil {
		b.Fatal(err)
	}
	p := daemontest.Run(b, daemontest.Build(b, ".", "synguard-responder"), "--dbus.address="+addr, "--config.file="+cfg, "--log.level=error")
	pid := p.Cmd.Process.Pid
	post := func(body []byte) {
		resp, err := http.Post(p.URL+"/webhook", "application/json", bytes.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Errorf("hostile webhook answered %d", resp.StatusCode)
		}
	}
	bodies := make([][]byte, 216)
	for i := range bodies {
		bodies[i] = hostileBody(i)
		if len(bodies[i]) > 4<<20 {
			b.Fatalf("body of %d bytes is over the limit", len(bodies[i]))
		}
	}
	b.ResetTimer()
	for range b.N {
		before := rssMiB(b, pid)
		for _, body := range bodies[:200] {
			post(body)
		}
		serial := rssMiB(b, pid)
		var wg sync.WaitGroup
		for _, body := range bodies[200:] {
			wg.Add(1)
			go func() { defer wg.Done(); post(body) }()
		}
		wg.Wait()
		b.ReportMetric(before, "MiB-rss-before")
		b.ReportMetric(serial, "MiB-rss-after-200-serial")
		b.ReportMetric(rssMiB(b, pid), "MiB-rss-after-16-at-once")
	}
}
