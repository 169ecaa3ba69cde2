package main

import (
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/synguard/synguard/internal/daemontest"
	"github.com/synguard/synguard/internal/firewalld/firewalldtest"
)

// TestOperatorSurface drives the operator API, the pause switch, the token,
// a reload, the firewalld crash path and the purge command against the fake
// firewalld.
func TestOperatorSurface(t *testing.T) {
	fake, addr := firewalldtest.Start(t)
	dir := t.TempDir()
	token := filepath.Join(dir, "token")
	os.WriteFile(token, []byte("op-secret\n"), 0o600)
	cfgPath := writeConfig(t, "api:\n  bearer_token_file: "+token+"\n")
	r := startResponder(t, "--dbus.address="+addr, "--config.file="+cfgPath, "--web.enable-lifecycle")
	waitFor(t, "backend_up", func() bool {
		return metricLine(r.metrics(t), "synguard_responder_backend_up{backend=\"firewalld\",mode=\"ipset\"} 1")
	})
	auth := []string{"Authorization", "Bearer op-secret"}
	post := func(body string) (int, string) {
		return r.do(t, http.MethodPost, "/api/v1/blocks", "application/json", body, auth...)
	}

	if code, _ := r.do(t, http.MethodPost, "/api/v1/blocks", "application/json", `{"prefix":"198.51.100.32/27"}`); code != 401 {
		t.Fatalf("no token: %d", code)
	}
	if code, body := r.do(t, http.MethodPost, "/api/v1/blocks", "text/plain", `{"prefix":"198.51.100.32/27"}`, auth...); code != 415 {
		t.Fatalf("form post: %d %s", code, body)
	}
	// In order: the last two are a new block, then the same /27 again.
	for _, c := range []struct {
		body string
		want int
	}{
		{`{"prefix":"10.0.0.0/8"}`, 422},
		{`{"prefix":"192.0.2.0/27"}`, 422},
		{`{"prefix":"nope"}`, 400},
		{`{"prefix":"198.51.100.32/27","x":1}`, 400},
		{`{"prefix":"198.51.100.32/27","duration":"-1h"}`, 400},
		{`{"prefix":"198.51.100.33/27","duration":"2h","reason":"netstat"}`, 201},
		{`{"prefix":"198.51.100.32/27"}`, 200},
	} {
		if code, resp := post(c.body); code != c.want {
			t.Errorf("POST %s: %d %s, want %d", c.body, code, resp, c.want)
		}
	}
	code, body := r.do(t, http.MethodGet, "/api/v1/blocks", "", "")
	if code != 200 || !strings.Contains(body, `"prefix": "198.51.100.32/27"`) || !strings.Contains(body, `"reason": "netstat"`) ||
		!strings.Contains(body, `"origin": null`) || !strings.Contains(body, `"offences": 1`) {
		t.Fatalf("list: %d %s", code, body)
	}
	if code, body := r.do(t, http.MethodGet, "/status.json", "", ""); code != 200 || !strings.Contains(body, "198.51.100.32/27") {
		t.Fatalf("status page source: %d %s", code, body)
	}

	// Pause: alerts acknowledged, nothing changes.
	if code, _ := r.do(t, http.MethodPost, "/api/v1/pause", "", "", auth...); code != 200 {
		t.Fatalf("pause: %d", code)
	}
	if code, body := r.post(t, notification("firing", block("198.51.100.64/27"))); code != 200 || !strings.Contains(body, `"paused":1`) {
		t.Fatalf("paused webhook: %d %s", code, body)
	}
	if code, body := r.do(t, http.MethodDelete, "/api/v1/pause", "", "", auth...); code != 200 || !strings.Contains(body, "false") {
		t.Fatalf("resume: %d %s", code, body)
	}

	// A firewalld crash: while it is away, a block is accepted and kept;
	// when it is back, restored with the others.
	fake.Crash()
	waitFor(t, "backend_up 0", func() bool {
		return metricLine(r.metrics(t), "synguard_responder_backend_up{backend=\"firewalld\",mode=\"ipset\"} 0")
	})
	if code, body := r.post(t, notification("firing", block("198.51.100.96/27"))); code != 200 || !strings.Contains(body, `"blocked":1`) {
		t.Fatalf("webhook while firewalld is down: %d %s", code, body)
	}
	fake.Start()
	want := []string{"198.51.100.32/27", "198.51.100.96/27"}
	waitFor(t, "restore after restart", func() bool {
		e, _ := fake.RuntimeEntries("synguard4")
		return slices.Equal(e, want)
	})

	// Unblock.
	if code, body := r.do(t, http.MethodDelete, "/api/v1/blocks/198.51.100.96/27", "", "", auth...); code != 200 || !strings.Contains(body, `"applied": true`) {
		t.Fatalf("unblock: %d %s", code, body)
	}
	if code, _ := r.do(t, http.MethodDelete, "/api/v1/blocks/198.51.100.96/27", "", "", auth...); code != 404 {
		t.Fatalf("second unblock: %d", code)
	}

	// Reload: a bad config is refused and the running one kept; a good one
	// applies (read-only API).
	orig, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	if code, _ := r.do(t, http.MethodPost, "/-/reload", "", ""); code != 401 {
		t.Fatalf("reload without the API token: %d", code)
	}
	os.WriteFile(cfgPath, []byte("policy:\n  min_prefix_length: {ipv4: 8, ipv6: 48}\n"), 0o600)
	if code, _ := r.do(t, http.MethodPost, "/-/reload", "", "", auth...); code != 500 {
		t.Fatalf("bad reload: %d", code)
	}
	good := strings.Replace(string(orig), "api:\n", "api:\n  read_only: true\n", 1)
	os.WriteFile(cfgPath, []byte(good), 0o600)
	if code, body := r.do(t, http.MethodPost, "/-/reload", "", "", auth...); code != 200 {
		t.Fatalf("good reload: %d %s", code, body)
	}
	if code, _ := post(`{"prefix":"198.51.100.128/27"}`); code != 403 {
		t.Fatalf("read-only API accepted a change: %d", code)
	}

	// Purge refuses while the responder runs, and works once it stopped.
	m := NewMain(&daemontest.Buffer{}, &daemontest.Buffer{})
	if code := m.Main(t.Context(), []string{"--dbus.address=" + addr, "--config.file=" + cfgPath, "purge"}); code != 1 {
		t.Fatalf("purge while running: exit %d", code)
	}
	r.Stop()
	out := &daemontest.Buffer{}
	m = NewMain(out, &daemontest.Buffer{})
	if code := m.Main(t.Context(), []string{"--dbus.address=" + addr, "--config.file=" + cfgPath, "purge"}); code != 0 {
		t.Fatalf("purge: exit %d", code)
	}
	if !strings.Contains(out.String(), "purged 1 blocks") {
		t.Fatalf("purge output: %s", out)
	}
	if _, ok := fake.RuntimeEntries("synguard4"); ok {
		if e, _ := fake.RuntimeEntries("synguard4"); len(e) != 0 {
			t.Fatalf("purge left %v", e)
		}
	}
	if _, _, ok := fake.PermanentIPSet("synguard4"); ok {
		t.Fatal("purge left the permanent ipset")
	}
}

func TestConfigCheck(t *testing.T) {
	// The example leaves the tokens empty: it names the fix.
	out, errOut := &daemontest.Buffer{}, &daemontest.Buffer{}
	if code := NewMain(out, errOut).Main(t.Context(), []string{"--config.check", "--config.file=../../examples/responder.yml"}); code != 1 ||
		!strings.Contains(errOut.String(), "examples/responder.yml:") || !strings.Contains(errOut.String(), "webhook.bearer_token_file") {
		t.Fatalf("example config: exit %d: %s", code, errOut)
	}
	errOut = &daemontest.Buffer{}
	if code := NewMain(out, errOut).Main(t.Context(), []string{"--config.check", "--config.file=" + writeConfig(t, "")}); code != 0 {
		t.Fatalf("a config with tokens: exit %d: %s", code, errOut)
	}
	bad := filepath.Join(t.TempDir(), "bad.yml")
	os.WriteFile(bad, []byte("firewall:\n  backend: pf\n"), 0o600)
	errOut = &daemontest.Buffer{}
	if code := NewMain(out, errOut).Main(t.Context(), []string{"--config.check", "--config.file=" + bad}); code != 1 || !strings.Contains(errOut.String(), bad+":2:") {
		t.Fatalf("bad config: exit %d: %s", code, errOut)
	}
}
