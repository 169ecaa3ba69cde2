package probe

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// startDaemon runs bin with args (the address goes where {addr} is) on a
// loopback port and waits until GET ready answers 200. It stops the process
// it started when the test ends.
func startDaemon(t *testing.T, bin, pkg, ready string, args ...string) string {
	t.Helper()
	path, err := exec.LookPath(bin)
	if err != nil {
		t.Skipf("%s not installed (Debian package %s, listed in .ci/packages)", bin, pkg)
	}
	addr := refusedAddr(t)
	for i := range args {
		args[i] = strings.ReplaceAll(args[i], "{addr}", addr)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, path, args...)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("%s's log:\n%s", bin, logs.String())
		}
	})
	base := "http://" + addr
	for range 150 {
		if resp, err := http.Get(base + ready); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return base
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s not ready at %s:\n%s", bin, base, logs.String())
	return ""
}

// scrapeProbe GETs base/probe for module and target and parses the answer.
func scrapeProbe(t *testing.T, base, module, target string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(base + "/probe?" + url.Values{"module": {module}, "target": {target}}.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("%s /probe %s %s: %s %s", base, module, target, resp.Status, b)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse %s /probe: %v", base, err)
	}
	return mfs
}

// sample is a family's first sample as "labels value".
func sample(mf *dto.MetricFamily) string {
	if mf == nil || len(mf.Metric) == 0 {
		return "<none>"
	}
	m := mf.Metric[0]
	var l []string
	for _, p := range m.Label {
		l = append(l, p.GetName()+"="+p.GetValue())
	}
	return fmt.Sprintf("{%s} %g", strings.Join(l, ","), m.GetGauge().GetValue())
}

// Metrics whose values do not depend on timing: both exporters must agree.
var comparable = []string{
	BlackboxSuccess, BlackboxIPProtocol, BlackboxIPAddrHash, BlackboxCertExpiry, BlackboxChainExpiry,
	BlackboxTLSVersion, BlackboxChainInfo, BlackboxRegexFailed, BlackboxHTTPStatus, BlackboxHTTPLength,
	BlackboxHTTPBodyLength, BlackboxHTTPRedirects, BlackboxHTTPSSL, BlackboxHTTPVersion, BlackboxICMPHopLimit,
}

// TestBlackboxCompatible runs the same modules against the same servers
// through Debian's blackbox_exporter and synguard's /probe, and compares
// the metric names, types, verdicts and every value that does not depend
// on timing. Targets include host:port for http, as blackbox users write.
func TestBlackboxCompatible(t *testing.T) {
	if testing.Short() {
		t.Skip("real blackbox_exporter: skipped in -short mode")
	}
	cert := newTestCert(t)
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		io.WriteString(w, "hello from the test server\n")
	})
	mux.HandleFunc("/moved", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/", http.StatusFound) })
	plain := httptest.NewServer(mux)
	t.Cleanup(plain.Close)
	secure := httptest.NewUnstartedServer(mux)
	secure.TLS = cert.serverConfig()
	secure.StartTLS()
	t.Cleanup(secure.Close)
	tcpAddr := serve(t, silent)
	tlsAddr := serve(t, func(c net.Conn) {
		tc := tls.Server(c, cert.serverConfig())
		if tc.Handshake() == nil {
			_, _ = io.Copy(io.Discard, tc)
		}
	})
	refused := refusedAddr(t)
	smtpOK := serve(t, (&lineServer{banner: "220 mx.example ESMTP\r\n", replies: map[string]string{"EHLO": "250-mx.example\r\n250 8BITMIME\r\n", "QUIT": "221 bye\r\n"}}).handle)
	// A refusing server that hangs up after its banner. (One that keeps the
	// line open differs on purpose: synguard fails at the first wrong line,
	// blackbox waits for a match until its timeout and then reports
	// probe_failed_due_to_regex 0.)
	smtpWrong := serve(t, func(c net.Conn) { _, _ = io.WriteString(c, "554 go away\r\n") })

	dir := t.TempDir()
	bbConf := filepath.Join(dir, "blackbox.yml")
	if err := os.WriteFile(bbConf, []byte(fmt.Sprintf(`modules:
  http_2xx: {prober: http, timeout: 5s, http: {preferred_ip_protocol: ip4}}
  https_ca: {prober: http, timeout: 5s, http: {preferred_ip_protocol: ip4, tls_config: {ca_file: %[1]s}}}
  http_body: {prober: http, timeout: 5s, http: {preferred_ip_protocol: ip4, fail_if_body_not_matches_regexp: ["no such words"]}}
  tcp_connect: {prober: tcp, timeout: 5s, tcp: {preferred_ip_protocol: ip4}}
  tcp_tls: {prober: tcp, timeout: 5s, tcp: {preferred_ip_protocol: ip4, tls: true, tls_config: {ca_file: %[1]s}}}
  icmp: {prober: icmp, timeout: 5s, icmp: {preferred_ip_protocol: ip4}}
  smtp: {prober: tcp, timeout: 5s, tcp: {preferred_ip_protocol: ip4, query_response: [{expect: "^220 "}, {send: "EHLO localhost"}, {expect: "^250 "}, {send: "QUIT"}]}}
`, cert.caFile)), 0o600); err != nil {
		t.Fatal(err)
	}
	bb := startDaemon(t, "prometheus-blackbox-exporter", "prometheus-blackbox-exporter", "/metrics",
		"--config.file="+bbConf, "--web.listen-address={addr}")

	m := NewManager(nil, nil)
	if err := m.Apply(t.Context(), loadConfig(t, fmt.Sprintf(`probes:
  modules:
    http_2xx: {prober: http, timeout: 5s}
    https_ca: {prober: http, timeout: 5s, tls_config: {ca_file: %[1]s}}
    http_body: {prober: http, timeout: 5s, http: {body_regexp: "no such words"}}
    tcp_connect: {prober: tcp, timeout: 5s}
    tcp_tls: {prober: tcp, timeout: 5s, tls: true, tls_config: {ca_file: %[1]s}}
    smtp: {prober: smtp, timeout: 5s}
    icmp: {prober: icmp, timeout: 5s}
`, cert.caFile))); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Stop)
	sg := httptest.NewServer(m)
	t.Cleanup(sg.Close)

	cases := []struct {
		module, target, prober string
		success                bool
	}{
		{"http_2xx", strings.TrimPrefix(plain.URL, "http://"), "http", true}, // host:port
		{"http_2xx", plain.URL + "/missing", "http", false},
		{"http_2xx", plain.URL + "/moved", "http", true},
		{"https_ca", secure.URL + "/", "http", true},
		{"http_body", plain.URL + "/", "http", false},
		{"tcp_connect", tcpAddr, "tcp", true},
		{"tcp_connect", refused, "tcp", false},
		{"tcp_tls", tlsAddr, "tcp", true},
		// synguard's smtp prober against blackbox's tcp prober with the
		// query_response an SMTP module has: same verdict, same regex flag.
		{"smtp", smtpOK, "tcp", true},
		{"smtp", smtpWrong, "tcp", false},
	}
	// blackbox's icmp prober opens a raw socket: root only.
	if os.Geteuid() == 0 {
		cases = append(cases, struct {
			module, target, prober string
			success                bool
		}{"icmp", "127.0.0.1", "icmp", true})
	} else {
		t.Log("icmp not compared: blackbox_exporter's icmp prober needs root (CI runs as root)")
	}
	for _, c := range cases {
		t.Run(c.module+" "+c.target, func(t *testing.T) {
			want := scrapeProbe(t, bb, c.module, c.target)
			got := scrapeProbe(t, sg.URL, c.module, c.target)
			if s := sample(got[BlackboxSuccess]); s != sample(want[BlackboxSuccess]) || s != fmt.Sprintf("{} %d", map[bool]int{true: 1}[c.success]) {
				t.Errorf("probe_success: synguard %s, blackbox %s, want %v", s, sample(want[BlackboxSuccess]), c.success)
			}
			for name, mf := range got {
				if !strings.HasPrefix(name, "probe_") {
					t.Errorf("synguard's /probe answers %s: only blackbox's probe_* names belong there", name)
					continue
				}
				if want[name] == nil {
					t.Errorf("synguard reports %s, which blackbox does not for this probe", name)
				} else if mf.GetType() != want[name].GetType() {
					t.Errorf("%s: synguard's is a %s, blackbox's a %s", name, mf.GetType(), want[name].GetType())
				}
			}
			var missing []string
			for name := range want {
				if got[name] == nil {
					missing = append(missing, name)
				}
			}
			slices.Sort(missing)
			if len(missing) > 0 {
				t.Errorf("blackbox reports %q that synguard does not", missing)
			}
			for _, name := range comparable {
				if g, w := sample(got[name]), sample(want[name]); g != w {
					t.Errorf("%s: synguard %s, blackbox %s", name, g, w)
				}
			}
			// Phases: the same label sets.
			for _, name := range []string{BlackboxHTTPDuration, BlackboxICMPDuration} {
				if (got[name] == nil) != (want[name] == nil) || got[name] != nil && len(got[name].Metric) != len(want[name].Metric) {
					t.Errorf("%s: synguard has %d phases, blackbox %d", name, len(got[name].GetMetric()), len(want[name].GetMetric()))
				}
			}
		})
	}

	t.Run("debug", func(t *testing.T) {
		resp, err := http.Get(sg.URL + "/probe?" + url.Values{"module": {"http_2xx"}, "target": {plain.URL + "/missing"}, "debug": {"true"}}.Encode())
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		for _, want := range []string{"Logs for the probe:\n", "beginning probe", "probe failed", "status 404",
			"Metrics that would have been returned:\n", "probe_success 0", "probe_http_status_code 404",
			"Module configuration:\n", "prober: http"} {
			if !strings.Contains(string(b), want) {
				t.Errorf("debug=true lacks %q:\n%s", want, b)
			}
		}
	})
}

// TestBlackboxRelabelingJob: a real Prometheus runs a blackbox-style scrape
// job against synguard's /probe, the job operators already have (targets
// as __param_target, instance from the target, __address__ the exporter),
// with a host:port target for the http prober; probe_success comes out per
// target with the verdicts of the probes.
func TestBlackboxRelabelingJob(t *testing.T) {
	if testing.Short() {
		t.Skip("real Prometheus: skipped in -short mode")
	}
	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") }))
	t.Cleanup(web.Close)
	up := strings.TrimPrefix(web.URL, "http://")
	down := refusedAddr(t)
	m := NewManager(nil, nil)
	if err := m.Apply(t.Context(), loadConfig(t, "probes:\n  modules:\n    http_2xx: {prober: http, timeout: 2s}\n")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Stop)
	sg := httptest.NewServer(m)
	t.Cleanup(sg.Close)

	dir := t.TempDir()
	conf := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(`global: {scrape_interval: 1s, scrape_timeout: 1s}
scrape_configs:
  - job_name: blackbox
    metrics_path: /probe
    params: {module: [http_2xx]}
    static_configs: [{targets: ["%s", "%s"]}]
    relabel_configs:
      - {source_labels: [__address__], target_label: __param_target}
      - {source_labels: [__param_target], target_label: instance}
      - {target_label: __address__, replacement: "%s"}
`, up, down, strings.TrimPrefix(sg.URL, "http://"))), 0o600); err != nil {
		t.Fatal(err)
	}
	prom := startDaemon(t, "prometheus", "prometheus", "/-/ready", "--config.file="+conf,
		"--storage.tsdb.path="+filepath.Join(dir, "data"), "--web.listen-address={addr}")

	want := map[string]string{up: "1", down: "0"}
	var got map[string]string
	for range 100 {
		got = map[string]string{}
		resp, err := http.Get(prom + "/api/v1/query?" + url.Values{"query": {`probe_success{job="blackbox"}`}}.Encode())
		if err != nil {
			t.Fatal(err)
		}
		var body struct {
			Data struct {
				Result []struct {
					Metric map[string]string `json:"metric"`
					Value  [2]any            `json:"value"`
				} `json:"result"`
			} `json:"data"`
		}
		err = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range body.Data.Result {
			got[r.Metric["instance"]] = fmt.Sprint(r.Value[1])
		}
		if fmt.Sprint(got) == fmt.Sprint(want) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("probe_success by instance in Prometheus: %v, want %v", got, want)
}
