package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// load parses one of deploy/fleet's shipped files.
func load(t *testing.T, name string) map[string]any {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "..", "..", "deploy", "fleet", name))
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := yaml.Unmarshal(raw, &cfg); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestFleetTLS derives the fleet's configs with -pki: no path under /etc is
// left in any tls_config, webhooks keep https and carry the lab's token, and
// a web config keeps its client_auth_type and allowed SANs.
func TestFleetTLS(t *testing.T) {
	tp := tlsPaths{pki: "/lab/pki", client: "am1.example.net", server: "victim1", token: "/lab/webhook.token"}
	hs := hosts{{"victim1", "203.0.113.9"}, {"victim2", "203.0.113.17"}}

	am := load(t, "alertmanager.yml")
	if err := alertmanager(am, hs, tp); err != nil {
		t.Fatal(err)
	}
	out, _ := yaml.Marshal(am)
	for _, want := range []string{"url: https://203.0.113.9:9818/webhook", "url: https://203.0.113.17:9818/webhook",
		"cert_file: /lab/pki/am1.example.net.crt", "ca_file: /lab/pki/ca.crt", "credentials_file: /lab/webhook.token"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("derived alertmanager.yml lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(string(out), "/etc/") {
		t.Errorf("derived alertmanager.yml still names /etc:\n%s", out)
	}

	prom := load(t, "prometheus.yml")
	if err := prometheus(prom, hs, "", []string{"127.0.0.1:9093"}, "1s"); err != nil {
		t.Fatal(err)
	}
	tp.client = "prometheus.example.net"
	if err := tp.clientTLS(prom["scrape_configs"]); err != nil {
		t.Fatal(err)
	}
	out, _ = yaml.Marshal(prom)
	// The exporter's two jobs (SYN_RECV at 1 s, the rest) and the responder's.
	if n := strings.Count(string(out), "key_file: /lab/pki/prometheus.example.net.key"); n != 3 {
		t.Errorf("%d scrape jobs with Prometheus's client key, want 3:\n%s", n, out)
	}

	web := load(t, "responder-web.yml")
	if err := tp.serverTLS(web); err != nil {
		t.Fatal(err)
	}
	out, _ = yaml.Marshal(web)
	for _, want := range []string{"cert_file: /lab/pki/victim1.crt", "key_file: /lab/pki/victim1.key",
		"client_ca_file: /lab/pki/ca.crt", "client_auth_type: RequireAndVerifyClientCert", "- am2.example.net"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("derived responder-web.yml lacks %q:\n%s", want, out)
		}
	}

	// Without any tls_config, -pki is an error: the lab would run in clear.
	if err := tp.clientTLS([]any{map[string]any{"job_name": "x"}}); err == nil {
		t.Error("-pki on a config without tls_config was accepted")
	}
}

// TestSingleHostToken derives the single host's Alertmanager config with
// -token and no -pki: every webhook keeps its authorization, now naming the
// lab's token file, and nothing names /etc.
func TestSingleHostToken(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "..", "..", "deploy", "alertmanager", "alertmanager.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var am map[string]any
	if err := yaml.Unmarshal(raw, &am); err != nil {
		t.Fatal(err)
	}
	hs := hosts{{"victim1", "203.0.113.9"}, {"victim2", "203.0.113.17"}}
	if err := alertmanager(am, hs, tlsPaths{token: "/lab/webhook.token"}); err != nil {
		t.Fatal(err)
	}
	out, _ := yaml.Marshal(am)
	if n := strings.Count(string(out), "credentials_file: /lab/webhook.token"); n != 2 {
		t.Errorf("%d webhooks with the lab's token, want 2:\n%s", n, out)
	}
	if strings.Contains(string(out), "/etc/") || strings.Contains(string(out), "tls_config") {
		t.Errorf("derived alertmanager.yml names /etc or TLS:\n%s", out)
	}
}
