package probe

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
)

func schedulerConfig(t *testing.T, okAddr, silentAddr string, n int, interval, timeout string, concurrency int) Config {
	t.Helper()
	// One module per target keeps (module, target) distinct while every
	// target points at one of the two servers.
	var mods, targets strings.Builder
	for i := 0; i < n; i++ {
		addr := okAddr
		if i%2 == 1 {
			addr = silentAddr
		}
		fmt.Fprintf(&mods, "    pop3_%02d: {prober: pop3, timeout: %s}\n", i, timeout)
		fmt.Fprintf(&targets, "    - {module: pop3_%02d, target: \"%s\", interval: %s}\n", i, addr, interval)
	}
	return loadConfig(t, fmt.Sprintf("probes:\n  concurrency: %d\n  modules:\n%s  targets:\n%s", concurrency, mods.String(), targets.String()))
}

// TestSchedulerBounded: half the targets never answer; the scheduler keeps
// one goroutine per target, never more than Concurrency probes at once,
// records both outcomes, and ends everything on Stop.
func TestSchedulerBounded(t *testing.T) {
	ok := serve(t, (&lineServer{banner: "+OK\r\n", replies: map[string]string{"QUIT": "+OK\r\n"}}).handle)
	quiet := serve(t, silent)
	before := runtime.NumGoroutine()
	cfg := schedulerConfig(t, ok, quiet, 20, "300ms", "200ms", 4)
	s := NewScheduler(cfg, &Prober{}, nil)
	s.Start(t.Context())
	var peak int64
	var samples []int
	for i := 0; i < 25; i++ {
		time.Sleep(100 * time.Millisecond)
		if st := s.Stats(); st.InFlight > peak {
			peak = st.InFlight
		}
		samples = append(samples, runtime.NumGoroutine())
	}
	if peak > 4 {
		t.Errorf("%d probes in flight at once, want at most 4", peak)
	}
	// 20 target goroutines, 4 probes' helpers, and the test servers' own
	// connection goroutines: nothing that grows with time.
	late := samples[len(samples)-1]
	if late-before > 20+4*4+2*4+10 {
		t.Errorf("goroutines grew from %d to %d (samples %v)", before, late, samples)
	}
	states := s.States()
	if len(states) != 20 {
		t.Fatalf("%d targets have results after 2.5s, want 20", len(states))
	}
	for i, st := range states {
		silentTarget := st.Last.Target == quiet
		if st.Last.Success == silentTarget {
			t.Errorf("target %d %s: success %v (err %v)", i, st.Last.Target, st.Last.Success, st.Last.Err)
		}
		if silentTarget && (st.Last.Duration > 700*time.Millisecond || !strings.Contains(fmt.Sprint(st.Last.Err), "deadline exceeded")) {
			t.Errorf("silent target %s: took %s, err %v", st.Last.Target, st.Last.Duration, st.Last.Err)
		}
		if st.Runs < 2 {
			t.Errorf("target %s ran %d times in 2.5s at 300ms", st.Last.Target, st.Runs)
		}
	}
	start := time.Now()
	s.Stop()
	if d := time.Since(start); d > time.Second {
		t.Errorf("Stop took %s", d)
	}
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before+2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before+2 {
		t.Errorf("%d goroutines after Stop, %d before Start", n, before)
	}
}

// TestScrapeNeverWaits: with every probe hanging, a scrape returns at once
// and Stop ends the hung probes.
func TestScrapeNeverWaits(t *testing.T) {
	quiet := serve(t, silent)
	cfg := schedulerConfig(t, quiet, quiet, 8, "3s", "3s", 8)
	m := NewManager(nil, nil)
	if err := m.Apply(t.Context(), cfg); err != nil {
		t.Fatal(err)
	}
	// Let the first probes start (the first delay is random up to the interval).
	deadline := time.Now().Add(5 * time.Second)
	for m.Scheduler().Stats().InFlight < 3 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if n := m.Scheduler().Stats().InFlight; n < 3 {
		t.Fatalf("only %d probes hanging after 5s", n)
	}
	start := time.Now()
	if text := gatherText(t, m); !strings.Contains(text, "synguard_probe_in_flight") {
		t.Errorf("scrape gave\n%s", text)
	}
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Errorf("scrape took %s while probes hang", d)
	}
	start = time.Now()
	m.Stop()
	if d := time.Since(start); d > time.Second {
		t.Errorf("Stop took %s with hung probes", d)
	}
}

func TestManagerMetricsAndReload(t *testing.T) {
	ok := serve(t, (&lineServer{banner: "+OK\r\n", replies: map[string]string{"QUIT": "+OK\r\n"}}).handle)
	refused := refusedAddr(t)
	yml := fmt.Sprintf(`probes:
  modules:
    pop3: {prober: pop3, timeout: 1s}
  targets:
    - {module: pop3, target: "%s", interval: 1s}
    - {module: pop3, target: "%s", interval: 1s}
`, ok, refused)
	m := NewManager(nil, nil)
	if err := m.Apply(t.Context(), loadConfig(t, yml)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Stop)
	waitRuns(t, m, 2)
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(m)
	text := gatherText(t, m)
	for _, want := range []string{
		fmt.Sprintf("synguard_probe_success{module=\"pop3\",target=%q} 1\n", ok),
		fmt.Sprintf("synguard_probe_success{module=\"pop3\",target=%q} 0\n", refused),
		"synguard_probe_targets 2\n",
		"# TYPE synguard_probe_runs_total counter\n",
		fmt.Sprintf("synguard_probe_phase_duration_seconds{module=\"pop3\",phase=\"banner\",target=%q}", ok),
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %q:\n%s", want, text)
		}
	}
	for _, n := range []string{MetricDuration, MetricPhase, MetricLastRun, MetricInterval, MetricRuns, MetricFailures, MetricInFlight} {
		if !strings.Contains(text, "# TYPE "+n+" ") {
			t.Errorf("metric %s missing", n)
		}
	}
	// Reload without the refused target: the other keeps its counts, the
	// dropped one leaves no stale series.
	before := m.Scheduler().States()[0].Runs
	yml2 := fmt.Sprintf("probes:\n  modules:\n    pop3: {prober: pop3, timeout: 1s}\n  targets:\n    - {module: pop3, target: \"%s\", interval: 1s}\n", ok)
	if err := m.Apply(t.Context(), loadConfig(t, yml2)); err != nil {
		t.Fatal(err)
	}
	st := m.Scheduler().States()
	if len(st) != 1 || st[0].Last.Target != ok || st[0].Runs < before {
		t.Errorf("after reload: %+v (runs before %d)", st, before)
	}
}

func waitRuns(t *testing.T, m *Manager, n int) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if len(m.Scheduler().States()) >= n {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("fewer than %d targets probed in time", n)
}

func TestManagerRefusesICMPWhereUnavailable(t *testing.T) {
	none := func(string, string) (interface{ Close() error }, error) {
		return nil, fmt.Errorf("operation not permitted")
	}
	cfg := loadConfig(t, "probes:\n  modules:\n    ping: {prober: icmp}\n  targets:\n    - {module: ping, target: 127.0.0.1}\n")
	m := NewManager(nil, none)
	err := m.Apply(context.Background(), cfg)
	if err == nil || !strings.Contains(err.Error(), `icmp target "127.0.0.1" (module "ping"): icmp probes unavailable`) {
		t.Fatalf("Apply = %v, want an icmp error", err)
	}
	// A config with icmp modules but no icmp targets starts; /probe says why icmp fails.
	cfg = loadConfig(t, "probes:\n  modules:\n    ping: {prober: icmp}\n")
	if err := m.Apply(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	defer m.Stop()
	rec := httptest.NewRecorder()
	m.ServeHTTP(rec, httptest.NewRequest("GET", "/probe?module=ping&target=127.0.0.1", nil))
	if rec.Code != http.StatusInternalServerError || !strings.Contains(rec.Body.String(), "ping_group_range") {
		t.Errorf("/probe icmp: %d %s", rec.Code, rec.Body)
	}
}

func TestProbeHandler(t *testing.T) {
	cert := newTestCert(t)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") }))
	srv.TLS = cert.serverConfig()
	srv.StartTLS()
	t.Cleanup(srv.Close)
	cfg := loadConfig(t, "probes:\n  modules:\n    web: {prober: http, tls_config: {ca_file: "+cert.caFile+"}}\n    tcp: {prober: tcp, timeout: 1s}\n")
	m := NewManager(nil, nil)
	if err := m.Apply(t.Context(), cfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Stop)
	h := httptest.NewServer(m)
	t.Cleanup(h.Close)
	get := func(q string, hdr ...string) (int, string) {
		req, _ := http.NewRequest("GET", h.URL+"/probe?"+q, nil)
		if len(hdr) == 2 {
			req.Header.Set(hdr[0], hdr[1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, body := get("module=web&target=" + srv.URL)
	// blackbox_exporter's names on /probe (blackbox_test.go compares them
	// with the real one); synguard_probe_* are the background probes'.
	for _, want := range []string{"probe_success 1", `probe_http_duration_seconds{phase="tls"}`,
		fmt.Sprintf("probe_ssl_earliest_cert_expiry %g", float64(cert.notAfter.Unix()))} {
		if code != 200 || !strings.Contains(body, "\n"+want) {
			t.Errorf("/probe web: %d, want %q in\n%s", code, want, body)
		}
	}
	if strings.Contains(body, "synguard_probe_") {
		t.Errorf("/probe answers synguard_probe_* names:\n%s", body)
	}
	code, body = get("module=tcp&target=" + refusedAddr(t))
	if code != 200 || !strings.Contains(body, "\nprobe_success 0") {
		t.Errorf("/probe refused: %d\n%s", code, body)
	}
	// Prometheus's scrape timeout bounds the probe below the module's timeout.
	start := time.Now()
	code, body = get("module=tcp&target="+serve(t, silent), "X-Prometheus-Scrape-Timeout-Seconds", "0.8")
	if d := time.Since(start); code != 200 || !strings.Contains(body, "\nprobe_success 1") || d > time.Second {
		t.Errorf("/probe tcp connect: %d in %s\n%s", code, d, body)
	}
	for q, want := range map[string]string{
		"module=nope&target=a:1": `unknown module "nope"`,
		"module=tcp":             "target parameter is missing",
		"module=tcp&target=a":    "want host:port",
	} {
		if code, body := get(q); code != 400 || !strings.Contains(body, want) {
			t.Errorf("/probe?%s: %d %q, want 400 with %q", q, code, body, want)
		}
	}
}

// gatherText gathers c through a pedantic registry (which checks the
// metrics are consistent) and returns the text exposition.
func gatherText(t *testing.T, c prometheus.Collector) string {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, mf := range mfs {
		if _, err := expfmt.MetricFamilyToText(&b, mf); err != nil {
			t.Fatal(err)
		}
	}
	return b.String()
}
