package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/synguard/synguard/internal/daemontest"
	"github.com/synguard/synguard/internal/firewalld/firewalldtest"
	"github.com/synguard/synguard/internal/lab/labpki"
)

// noTokens is a config of writeConfig's shape with neither token.
func noTokens(t *testing.T, extra string) string {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "responder.yml")
	cfg := fmt.Sprintf("state_file: %s\nwebhook:\n  max_alerts: 20\nfirewall:\n  keep_connections: true\n%s",
		filepath.Join(dir, "state.json"), extra)
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestStartRefusedWithoutAuth: a config that leaves a mutating route
// without a token refuses the start (and --config.check), naming the file,
// the line and the fixes; so do the defaults, without any file.
func TestStartRefusedWithoutAuth(t *testing.T) {
	_, addr := firewalldtest.Start(t)
	cfg := noTokens(t, "")
	for _, args := range [][]string{
		{"--config.file=" + cfg},
		{"--config.file=" + cfg, "--config.check"},
	} {
		out, logs := &daemontest.Buffer{}, &daemontest.Buffer{}
		// Bounded: a responder that starts serves until its context ends.
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		code := NewMain(out, logs).Main(ctx, append([]string{"--dbus.address=" + addr, "--web.listen-address=127.0.0.1:0"}, args...))
		if code != 1 {
			t.Fatalf("%v: exit %d, want 1: %s", args, code, logs)
		}
		for _, want := range []string{cfg + ":2: POST /webhook", "webhook.bearer_token_file", "RequireAndVerifyClientCert", "insecure_open_routes: [webhook]"} {
			if !strings.Contains(logs.String(), want) {
				t.Errorf("%v: the refusal does not say %q:\n%s", args, want, logs)
			}
		}
	}
	// The webhook opened, the API not.
	cfg = noTokens(t, "insecure_open_routes: [webhook]\n")
	logs := &daemontest.Buffer{}
	if code := NewMain(&daemontest.Buffer{}, logs).Main(t.Context(), []string{"--config.check", "--config.file=" + cfg}); code != 1 ||
		!strings.Contains(logs.String(), cfg+":1: POST/DELETE /api/v1/blocks") {
		t.Fatalf("API without a token: exit %d: %s", code, logs)
	}
	// Reload is a mutating route only when served.
	cfg = noTokens(t, "api:\n  read_only: true\ninsecure_open_routes: [webhook]\n")
	if code := NewMain(&daemontest.Buffer{}, &daemontest.Buffer{}).Main(t.Context(), []string{"--config.check", "--config.file=" + cfg}); code != 0 {
		t.Fatalf("read-only API, no lifecycle: exit %d", code)
	}
	logs = &daemontest.Buffer{}
	if code := NewMain(&daemontest.Buffer{}, logs).Main(t.Context(), []string{"--config.check", "--web.enable-lifecycle", "--config.file=" + cfg}); code != 1 ||
		!strings.Contains(logs.String(), cfg+":6: POST /-/reload") {
		t.Fatalf("reload without a token: exit %d: %s", code, logs)
	}
	logs = &daemontest.Buffer{}
	if code := NewMain(&daemontest.Buffer{}, logs).Main(t.Context(), []string{"--config.check"}); code != 1 ||
		!strings.Contains(logs.String(), "(no --config.file: the defaults): POST /webhook") {
		t.Fatalf("the defaults: exit %d: %s", code, logs)
	}
}

// TestOpenedRoutesWarn: routes opened by name serve without a token, and
// the start logs a warning naming each; a cross-origin browser request and
// a non-JSON body are still refused.
func TestOpenedRoutesWarn(t *testing.T) {
	_, addr := firewalldtest.Start(t)
	cfg := noTokens(t, "insecure_open_routes: [webhook, api, reload]\n")
	r := startResponder(t, "--dbus.address="+addr, "--config.file="+cfg, "--web.enable-lifecycle")
	for _, route := range []string{"webhook", "api", "reload"} {
		if !strings.Contains(r.Logs.String(), `level=WARN`) || !strings.Contains(r.Logs.String(), "route="+route+" ") {
			t.Errorf("no warning naming route %s:\n%s", route, r.Logs)
		}
	}
	if code, body := r.do(t, http.MethodPost, "/webhook", "application/json", notification("firing", block("198.51.100.32/27"))); code != 200 {
		t.Fatalf("opened webhook: %d %s", code, body)
	}
	if code, body := r.do(t, http.MethodPost, "/api/v1/blocks", "application/json", `{"prefix":"198.51.100.64/27"}`); code != 201 {
		t.Fatalf("opened API: %d %s", code, body)
	}
	if code, body := r.do(t, http.MethodPost, "/-/reload", "", ""); code != 200 {
		t.Fatalf("opened reload: %d %s", code, body)
	}
	cross := []string{"Origin", "http://evil.example", "Sec-Fetch-Site", "cross-site"}
	for _, c := range []struct{ method, path, ct string }{
		{http.MethodPost, "/webhook", "application/json"},
		{http.MethodPost, "/api/v1/blocks", "application/json"},
		{http.MethodPost, "/api/v1/pause", ""},
		{http.MethodPost, "/-/reload", ""},
	} {
		if code, body := r.do(t, c.method, c.path, c.ct, `{"prefix":"198.51.100.96/27"}`, cross...); code != 403 {
			t.Errorf("cross-site %s %s: %d %s, want 403", c.method, c.path, code, body)
		}
	}
	for _, path := range []string{"/webhook", "/api/v1/blocks"} {
		if code, _ := r.do(t, http.MethodPost, path, "text/plain", `{"prefix":"198.51.100.96/27"}`); code != 415 {
			t.Errorf("text/plain to %s: %d, want 415", path, code)
		}
	}
}

// TestUnauthorizedEveryRoute: with the tokens configured, each mutating
// route without its token, or with the other route's, is 401; with it,
// it works.
func TestUnauthorizedEveryRoute(t *testing.T) {
	_, addr := firewalldtest.Start(t)
	r := startResponder(t, "--dbus.address="+addr, "--config.file="+writeConfig(t, ""), "--web.enable-lifecycle")
	routes := []struct{ method, path, ct, body, token string }{
		{http.MethodPost, "/webhook", "application/json", notification("firing", block("198.51.100.32/27")), hookToken},
		{http.MethodPost, "/api/v1/blocks", "application/json", `{"prefix":"198.51.100.64/27"}`, apiToken},
		{http.MethodDelete, "/api/v1/blocks/198.51.100.64/27", "", "", apiToken},
		{http.MethodPost, "/api/v1/pause", "", "", apiToken},
		{http.MethodDelete, "/api/v1/pause", "", "", apiToken},
		{http.MethodPost, "/-/reload", "", "", apiToken},
	}
	for _, rt := range routes {
		other := hookToken
		if rt.token == hookToken {
			other = apiToken
		}
		for _, auth := range [][]string{nil, {"Authorization", "Bearer " + other}, {"Authorization", rt.token}} {
			if code, body := r.do(t, rt.method, rt.path, rt.ct, rt.body, auth...); code != 401 {
				t.Errorf("%s %s with %v: %d %s, want 401", rt.method, rt.path, auth, code, body)
			}
		}
		if code, body := r.do(t, rt.method, rt.path, rt.ct, rt.body, "Authorization", "Bearer "+rt.token); code/100 != 2 {
			t.Errorf("%s %s with its token: %d %s", rt.method, rt.path, code, body)
		}
	}
}

// TestClientCertificates: with --web.config.file requiring verified client
// certificates (labpki's test PKI) no token is needed: a client with a
// certificate of the CA reaches every mutating route, one without none.
func TestClientCertificates(t *testing.T) {
	_, addr := firewalldtest.Start(t)
	pki := filepath.Join(t.TempDir(), "pki")
	if err := labpki.Write(pki, labpki.Spec{Servers: []labpki.Server{{Name: "localhost", IP: net.ParseIP("127.0.0.1")}}, Clients: []string{"am1.example.net"}}); err != nil {
		t.Fatal(err)
	}
	web := filepath.Join(t.TempDir(), "web.yml")
	os.WriteFile(web, []byte(fmt.Sprintf("tls_server_config:\n  cert_file: %[1]s/localhost.crt\n  key_file: %[1]s/localhost.key\n"+
		"  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: %[1]s/ca.crt\n", pki)), 0o600)
	r := startResponder(t, "--dbus.address="+addr, "--config.file="+noTokens(t, ""), "--web.config.file="+web, "--web.enable-lifecycle")
	if strings.Contains(r.Logs.String(), "WITHOUT authentication") {
		t.Fatalf("warned of open routes with client certificates required:\n%s", r.Logs)
	}
	ca, err := os.ReadFile(filepath.Join(pki, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	cert, err := tls.LoadX509KeyPair(filepath.Join(pki, "am1.example.net.crt"), filepath.Join(pki, "am1.example.net.key"))
	if err != nil {
		t.Fatal(err)
	}
	base := strings.Replace(r.URL, "http://", "https://", 1)
	client := func(certs ...tls.Certificate) *http.Client {
		return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: certs}}}
	}
	do := func(c *http.Client, method, path, ct, body string) (int, error) {
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		if ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		resp, err := c.Do(req)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, nil
	}
	with, without := client(cert), client()
	for _, rt := range []struct{ method, path, ct, body string }{
		{http.MethodPost, "/webhook", "application/json", notification("firing", block("198.51.100.32/27"))},
		{http.MethodPost, "/api/v1/blocks", "application/json", `{"prefix":"198.51.100.64/27"}`},
		{http.MethodPost, "/api/v1/pause", "", ""},
		{http.MethodPost, "/-/reload", "", ""},
	} {
		if code, err := do(without, rt.method, rt.path, rt.ct, rt.body); err == nil {
			t.Errorf("%s %s without a client certificate: answered %d", rt.method, rt.path, code)
		}
		if code, err := do(with, rt.method, rt.path, rt.ct, rt.body); err != nil || code/100 != 2 {
			t.Errorf("%s %s with a client certificate: %d %v", rt.method, rt.path, code, err)
		}
	}
}
