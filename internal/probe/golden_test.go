package probe

import (
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/background-tls-metrics.txt from this run")

// Sample values and the server's address vary from run to run.
var (
	sampleValue = regexp.MustCompile(`(?m) \S+$`)
	localURL    = regexp.MustCompile(`https://127\.0\.0\.1:[0-9]+/`)
)

// TestBackgroundTLSGolden pins what the background collector exposes for a
// TLS target, the certificate's expiry included, in
// testdata/background-tls-metrics.txt. The exporter's own golden probes no
// TLS service, so this is the file tools/dashcheck reads for the TLS metric
// names the alerts use (go test ./internal/probe -run TLSGolden -update).
func TestBackgroundTLSGolden(t *testing.T) {
	cert := newTestCert(t)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") }))
	srv.TLS = cert.serverConfig()
	srv.StartTLS()
	t.Cleanup(srv.Close)
	yml := fmt.Sprintf("probes:\n  modules:\n    https: {prober: http, timeout: 1s, tls_config: {ca_file: %s}}\n  targets:\n    - {module: https, target: %q, interval: 1s}\n", cert.caFile, srv.URL+"/")
	m := NewManager(nil, nil)
	if err := m.Apply(t.Context(), loadConfig(t, yml)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Stop)
	waitRuns(t, m, 1)
	text := gatherText(t, m)
	if !strings.Contains(text, fmt.Sprintf("%s{module=\"https\",target=%q} %g", MetricCertExpiry, srv.URL+"/", float64(cert.notAfter.Unix()))) {
		t.Fatalf("no certificate expiry for the TLS target:\n%s", text)
	}
	got := localURL.ReplaceAllString(text, "https://127.0.0.1:<port>/")
	var lines []string
	for _, l := range strings.Split(got, "\n") {
		if l != "" && !strings.HasPrefix(l, "#") {
			l = sampleValue.ReplaceAllString(l, " <varies>")
		}
		lines = append(lines, l)
	}
	got = strings.Join(lines, "\n")
	path := filepath.Join("testdata", "background-tls-metrics.txt")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read the golden (run with -update to write it): %v", err)
	}
	if string(want) != got {
		t.Errorf("background TLS metrics differ from %s (-update rewrites it):\ngot:\n%s\nwant:\n%s", path, got, want)
	}
}
