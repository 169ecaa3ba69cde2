package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/synguard/synguard/internal/daemontest"
	"github.com/synguard/synguard/internal/firewalld/firewalldtest"
	"github.com/synguard/synguard/internal/fixtures"
)

// responder is the whole program running in-process on a loopback port.
type responder struct{ *daemontest.Daemon }

// startResponder runs Main with args on 127.0.0.1:0 until the test ends.
func startResponder(t testing.TB, args ...string) *responder {
	t.Helper()
	return &responder{daemontest.Start(t, "responder", func(ctx context.Context, env daemontest.Env) int {
		m := NewMain(env.Stdout, env.Logs)
		m.Listener, m.Ready = env.Listener, env.Ready
		return m.Main(ctx, args)
	})}
}

func (r *responder) do(t testing.TB, method, path, contentType, body string, header ...string) (int, string) {
	t.Helper()
	return r.Do(t, method, path, contentType, body, header...)
}

// post sends a notification as Alertmanager does, with the webhook token.
func (r *responder) post(t *testing.T, body string) (int, string) {
	t.Helper()
	return r.do(t, http.MethodPost, "/webhook", "application/json", body, "Authorization", "Bearer "+hookToken)
}

// change sends an operator API request with the API token.
func (r *responder) change(t *testing.T, method, path, body string) (int, string) {
	t.Helper()
	return r.do(t, method, path, "application/json", body, "Authorization", "Bearer "+apiToken)
}

// The tokens writeConfig and labConfig give the responder.
const hookToken, apiToken = "hook-secret", "op-secret"

// tokenFiles writes the two tokens into dir and returns the config lines
// naming them: the webhook's, to go in its section, and a whole api
// section unless extra has its own.
func tokenFiles(t testing.TB, dir, extra string) (webhook, api string) {
	t.Helper()
	for name, tok := range map[string]string{"webhook.token": hookToken, "api.token": apiToken} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(tok+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	webhook = "  bearer_token_file: " + filepath.Join(dir, "webhook.token") + "\n"
	if !strings.HasPrefix(extra, "api:") && !strings.Contains(extra, "\napi:") {
		api = "api:\n  bearer_token_file: " + filepath.Join(dir, "api.token") + "\n"
	}
	return webhook, api
}

func (r *responder) metrics(t *testing.T) string {
	t.Helper()
	return r.Get(t, "/metrics")
}

// waitFor polls cond for up to 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func metricLine(body, series string) bool {
	for _, l := range strings.Split(body, "\n") {
		if l == series {
			return true
		}
	}
	return false
}

var masks = []struct {
	re   *regexp.Regexp
	repl string
}{
	{regexp.MustCompile(`(?m)^(synguard_responder_config_last_reload_success_timestamp_seconds) .*$`), "$1 <timestamp>"},
	{regexp.MustCompile(`(?m)^(synguard_responder_last_reconcile_success_timestamp_seconds) .*$`), "$1 <timestamp>"},
	{regexp.MustCompile(`(?m)^(synguard_responder_build_info)\{.*\} 1$`), "$1{<build labels>} 1"},
	{regexp.MustCompile(`(?m)^(synguard_responder_block_expiry_timestamp_seconds\{[^}]*\}) .*$`), "$1 <timestamp>"},
	// Durations, and how the driver's steps happened to coalesce the work.
	{regexp.MustCompile(`(?m)^(synguard_responder_(?:backend_call_duration_seconds|backend_call_entries|state_save_duration_seconds)_(?:bucket|sum|count)(?:\{[^}]*\})?) .*$`), "$1 <n>"},
}

func mask(s string) string {
	for _, m := range masks {
		s = m.re.ReplaceAllString(s, m.repl)
	}
	return s
}

func writeConfig(t *testing.T, extra string) string {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "responder.yml")
	hook, api := tokenFiles(t, dir, extra)
	cfg := fmt.Sprintf(`state_file: %s
host: mx1
webhook:
%s  max_body_bytes: 65536
  max_alerts: 20
%spolicy:
  allowlist: [192.0.2.0/26]
firewall:
  backend: firewalld
  reconcile_interval: 1h
  # The fake firewalld has no kernel behind it: cutting connections would
  # only walk the test host's own conntrack table.
  keep_connections: true
  firewalld:
    mode: ipset
%s`, filepath.Join(dir, "state", "state.json"), hook, api, extra)
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// notification builds a webhook body with one firing alert per prefix.
func notification(status string, labels ...map[string]string) string {
	type alert struct {
		Status string            `json:"status"`
		Labels map[string]string `json:"labels"`
	}
	var as []alert
	for _, l := range labels {
		as = append(as, alert{status, l})
	}
	b, _ := json.Marshal(map[string]any{"version": "4", "status": status, "receiver": "responder", "groupKey": "{}:{}", "alerts": as})
	return string(b)
}

func block(p string, extra ...string) map[string]string {
	l := map[string]string{"alertname": "SynFloodPrefix", "action": "block", "prefix": p}
	for i := 0; i+1 < len(extra); i += 2 {
		l[extra[i]] = extra[i+1]
	}
	return l
}

// TestEndToEnd is the golden test: the whole responder against the fake
// firewalld on a private bus, fed real and bad notifications, an operator's
// block and a firewalld reload; /metrics is compared with
// testdata/e2e-output.txt (go test ./cmd/responder -run TestEndToEnd -update
// rewrites it) and checked by promtool when it is installed.
func TestEndToEnd(t *testing.T) {
	fake, addr := firewalldtest.Start(t)
	r := startResponder(t, "--dbus.address="+addr, "--config.file="+writeConfig(t, ""), "--web.disable-exporter-metrics")
	waitFor(t, "backend_up", func() bool {
		return metricLine(r.metrics(t), "synguard_responder_backend_up{backend=\"firewalld\",mode=\"ipset\"} 1")
	})

	firing := string(fixtures.Webhook(t, "firing.json"))
	steps := []struct {
		name, body string
		code       int
		want       string
	}{
		{"real firing", firing, 200, `"blocked":1`},
		{"HA duplicate", firing, 200, `"duplicates":1`},
		{"real resolved", string(fixtures.Webhook(t, "resolved.json")), 200, `"status":"ok"`},
		{"malformed", firing[:100], 400, "malformed JSON"},
		{"custom payload", `{"text":"flood"}`, 400, "custom"},
		{"wrong version", strings.Replace(firing, `"version": "4"`, `"version": "3"`, 1), 400, "bad_version"},
		{"oversized", firing + strings.Repeat(" ", 70000), 413, "larger than 65536"},
		{"too many alerts", notification("firing", slices.Repeat([]map[string]string{block("198.51.100.64/27")}, 21)...), 413, "21 alerts"},
		{"policy refusals", notification("firing",
			block("0.0.0.0/0"), block("10.0.0.0/8"), block("192.0.2.0/24"), block("127.0.0.1"),
			block("198.51.100.96/27", "host", "mx2"), block("198.51.100.128/27", "action", "page"),
			block("nonsense"), map[string]string{"action": "block"},
			block("2001:db8:5::/64", "host", "mx2", "scope", "fleet"), block("198.51.100.160/27", "host", "mx1")), 200, `"blocked":2`},
	}
	for _, s := range steps {
		code, body := r.post(t, s.body)
		if code != s.code || !strings.Contains(body, s.want) {
			t.Fatalf("%s: %d %s, want %d with %q", s.name, code, body, s.code, s.want)
		}
	}
	code, body := r.change(t, http.MethodPost, "/api/v1/blocks", `{"prefix":"2001:db8:9::/48","duration":"2h","reason":"seen in netstat"}`)
	if code != 201 || !strings.Contains(body, `"applied": true`) {
		t.Fatalf("manual block: %d %s", code, body)
	}
	want4 := []string{"198.51.100.160/27", "198.51.100.32/27"}
	want6 := []string{"2001:db8:5::/64", "2001:db8:9::/48"}
	entries := func() ([]string, []string) {
		e4, _ := fake.RuntimeEntries("synguard4")
		e6, _ := fake.RuntimeEntries("synguard6")
		return e4, e6
	}
	waitFor(t, "entries in the ipsets", func() bool {
		e4, e6 := entries()
		return slices.Equal(e4, want4) && slices.Equal(e6, want6)
	})
	if !fake.Blocked(netip.MustParseAddr("198.51.100.33")) || fake.Blocked(netip.MustParseAddr("198.51.100.100")) {
		t.Fatal("fake firewalld does not drop the blocked /27 only")
	}

	// firewall-cmd --reload empties the runtime ipsets: restored.
	fake.Reload()
	waitFor(t, "restore after reload", func() bool {
		e4, e6 := entries()
		return slices.Equal(e4, want4) && slices.Equal(e6, want6) &&
			metricLine(r.metrics(t), "synguard_responder_reconcile_repairs_total 4")
	})

	got := mask(r.metrics(t))
	daemontest.Golden(t, filepath.Join("testdata", "e2e-output.txt"), got)
	if _, err := exec.LookPath("promtool"); err == nil {
		cmd := exec.Command("promtool", "check", "metrics")
		cmd.Stdin = strings.NewReader(r.metrics(t))
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool check metrics: %v\n%s", err, out)
		}
	} else {
		t.Log("promtool not installed: metrics lint skipped")
	}
}
