package webhook

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/synguard/synguard/internal/blocks"
	"github.com/synguard/synguard/internal/fixtures"
	"github.com/synguard/synguard/internal/policy"
)

// fakeResponder is a function-field fake of Responder.
type fakeResponder struct {
	HandleAlertsFn func(ctx context.Context, alerts []policy.Alert) (blocks.Result, error)
	mu             sync.Mutex
	refused        map[policy.Reason]int
	calls          int
}

func (f *fakeResponder) HandleAlerts(ctx context.Context, alerts []policy.Alert) (blocks.Result, error) {
	f.mu.Lock()
	f.calls++
	f.mu.Unlock()
	if f.HandleAlertsFn == nil {
		return blocks.Result{Blocked: len(alerts)}, nil
	}
	return f.HandleAlertsFn(ctx, alerts)
}

func (f *fakeResponder) CountRefused(r policy.Reason, n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.refused == nil {
		f.refused = map[policy.Reason]int{}
	}
	f.refused[r] += n
}

// readFile returns a recorded Alertmanager webhook body.
func readFile(t testing.TB, name string) string {
	t.Helper()
	return string(fixtures.Webhook(t, name))
}

func TestDecodeReal(t *testing.T) {
	m, err := Decode([]byte(readFile(t, "firing.json")), 10)
	if err != nil {
		t.Fatal(err)
	}
	if m.Version != "4" || len(m.Alerts) != 1 || m.Alerts[0].Labels["prefix"] != "198.51.100.32/27" || m.Receiver != "responder" || m.GroupKey == "" {
		t.Fatalf("unexpected message %+v", m)
	}
	as := m.PolicyAlerts()
	if !as[0].Firing || as[0].Name() != "FwlabAlwaysFiring" || as[0].Summary != "lab: block " {
		t.Fatalf("unexpected policy alert %+v", as[0])
	}
	m, err = Decode([]byte(readFile(t, "resolved.json")), 10)
	if err != nil {
		t.Fatal(err)
	}
	if m.PolicyAlerts()[0].Firing {
		t.Fatal("resolved alert decoded as firing")
	}
}

func TestDecodeBad(t *testing.T) {
	firing := readFile(t, "firing.json")
	many := `{"version":"4","alerts":[` + strings.Repeat(`{"status":"firing","labels":{}},`, 5) + `{"status":"firing","labels":{}}]}`
	tests := []struct {
		name, body string
		status     int
		reason     policy.Reason
		msg        string
	}{
		{"empty", "", 400, policy.ReasonBadJSON, "not a JSON object"},
		{"text", "SYN flood from 198.51.100.32/27", 400, policy.ReasonBadJSON, "not a JSON object"},
		{"array", "[]", 400, policy.ReasonBadJSON, "not a JSON object"},
		{"cut", firing[:200], 400, policy.ReasonBadJSON, "malformed JSON"},
		{"custom payload", `{"text":"198.51.100.32/27 is flooding"}`, 400, policy.ReasonCustomPayload, "custom"},
		{"no version", `{"alerts":[]}`, 400, policy.ReasonBadVersion, "version none"},
		{"version 3", strings.Replace(firing, `"version": "4"`, `"version": "3"`, 1), 400, policy.ReasonBadVersion, `version "3"`},
		{"version number", strings.Replace(firing, `"version": "4"`, `"version": 4`, 1), 400, policy.ReasonBadJSON, "malformed"},
		{"labels not strings", strings.Replace(firing, `"severity": "critical"`, `"severity": 5`, 1), 400, policy.ReasonBadJSON, `"alerts.labels": number`},
		{"bad status", strings.Replace(firing, `"status": "firing",
      "labels"`, `"status": "burning",
      "labels"`, 1), 400, policy.ReasonBadJSON, `"burning"`},
		{"too many", many, 413, policy.ReasonTooManyAlerts, "6 alerts"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Decode([]byte(tt.body), 5)
			if err == nil {
				t.Fatalf("accepted: %+v", m)
			}
			if err.Status != tt.status || err.Reason != tt.reason || !strings.Contains(err.Msg, tt.msg) {
				t.Fatalf("got %d %q %q, want %d %q containing %q", err.Status, err.Reason, err.Msg, tt.status, tt.reason, tt.msg)
			}
		})
	}
}

func post(t *testing.T, h http.Handler, body, token string, header ...string) (*http.Response, string) {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/webhook", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	b, _ := io.ReadAll(rec.Result().Body)
	return rec.Result(), string(b)
}

func TestHandler(t *testing.T) {
	firing := readFile(t, "firing.json")
	reg := prometheus.NewRegistry()
	f := &fakeResponder{}
	h := New(Options{MaxBodyBytes: 2048, MaxAlerts: 5, BearerToken: "s3cret"}, f, reg, slog.New(slog.DiscardHandler))

	if resp, body := post(t, h, firing, ""); resp.StatusCode != 401 || !strings.Contains(body, "bearer") || resp.Header.Get("WWW-Authenticate") == "" {
		t.Fatalf("no token: %d %s", resp.StatusCode, body)
	}
	if resp, _ := post(t, h, firing, "wrong"); resp.StatusCode != 401 {
		t.Fatalf("wrong token: %d", resp.StatusCode)
	}
	if resp, body := post(t, h, firing, "s3cret"); resp.StatusCode != 200 || !strings.Contains(body, `"blocked":1`) {
		t.Fatalf("good: %d %s", resp.StatusCode, body)
	}
	if resp, body := post(t, h, firing+strings.Repeat(" ", 4096), "s3cret"); resp.StatusCode != 413 || !strings.Contains(body, "larger than 2048") {
		t.Fatalf("oversized: %d %s", resp.StatusCode, body)
	}
	if resp, body := post(t, h, "{", "s3cret"); resp.StatusCode != 400 || !strings.Contains(body, "malformed JSON") {
		t.Fatalf("bad json: %d %s", resp.StatusCode, body)
	}
	// A web page in an operator's browser: a simple (preflight-free) post,
	// and a cross-site one.
	if resp, body := post(t, h, firing, "s3cret", "Content-Type", "text/plain"); resp.StatusCode != 415 || !strings.Contains(body, "application/json") {
		t.Fatalf("text/plain body: %d %s", resp.StatusCode, body)
	}
	if resp, body := post(t, h, firing, "s3cret", "Origin", "http://evil.example", "Sec-Fetch-Site", "cross-site"); resp.StatusCode != 403 || !strings.Contains(body, "cross-origin") {
		t.Fatalf("cross-site post: %d %s", resp.StatusCode, body)
	}
	truncated := strings.Replace(firing, `"truncatedAlerts": 0`, `"truncatedAlerts": 7`, 1)
	if resp, _ := post(t, h, truncated, "s3cret"); resp.StatusCode != 200 {
		t.Fatalf("truncated: %d", resp.StatusCode)
	}
	f.HandleAlertsFn = func(context.Context, []policy.Alert) (blocks.Result, error) {
		return blocks.Result{}, errors.New("save state: disk full")
	}
	if resp, body := post(t, h, firing, "s3cret"); resp.StatusCode != 500 || !strings.Contains(body, "disk full") {
		t.Fatalf("state error must be 5xx so Alertmanager retries: %d %s", resp.StatusCode, body)
	}
	req := httptest.NewRequest(http.MethodGet, "/webhook", nil)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != 405 {
		t.Fatalf("GET: %d", rec.Code)
	}
	if f.calls != 3 {
		t.Fatalf("responder called %d times, want 3 (refused payloads must not reach it)", f.calls)
	}
	want := map[policy.Reason]int{policy.ReasonUnauthorized: 2, policy.ReasonBodyTooLarge: 1, policy.ReasonBadJSON: 2,
		policy.ReasonCrossOrigin: 1, policy.ReasonTruncated: 7}
	for r, n := range want {
		if f.refused[r] != n {
			t.Errorf("refused[%s] = %d, want %d", r, f.refused[r], n)
		}
	}
	for code, n := range map[string]float64{"200": 2, "401": 2, "403": 1, "413": 1, "415": 1, "400": 1, "500": 1, "405": 1} {
		if got := counterValue(t, h.webhooks.WithLabelValues(code)); got != n {
			t.Errorf("webhooks_total{code=%s} = %v, want %v", code, got, n)
		}
	}
}

func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// TestBodiesBounded: however many clients send at once, at most
// MaxConcurrentBodies bodies are read (and held in memory) at a time; the
// others wait unread, and all are answered once the first are done.
func TestBodiesBounded(t *testing.T) {
	reg := prometheus.NewRegistry()
	h := New(Options{MaxBodyBytes: 1 << 20}, &fakeResponder{}, reg, slog.New(slog.DiscardHandler))
	srv := httptest.NewServer(h)
	defer srv.Close()
	const n = MaxConcurrentBodies + 3
	firing := readFile(t, "firing.json")
	writers := make([]*io.PipeWriter, n)
	codes := make(chan int, n)
	for i := range n {
		pr, pw := io.Pipe()
		writers[i] = pw
		go func() {
			resp, err := http.Post(srv.URL, "application/json", pr)
			if err != nil {
				codes <- 0
				return
			}
			resp.Body.Close()
			codes <- resp.StatusCode
		}()
		// Half a body: the handler that took it keeps reading.
		go pw.Write([]byte(firing[:50]))
	}
	inFlight := func() float64 {
		var m dto.Metric
		if err := h.inFlight.Write(&m); err != nil {
			t.Fatal(err)
		}
		return m.GetGauge().GetValue()
	}
	deadline := time.Now().Add(5 * time.Second)
	for inFlight() < MaxConcurrentBodies && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond) // would any more start reading?
	if got := inFlight(); got != MaxConcurrentBodies {
		t.Fatalf("%v bodies read at once, want %d", got, MaxConcurrentBodies)
	}
	for _, pw := range writers {
		go func() { pw.Write([]byte(firing[50:])); pw.Close() }()
	}
	for range n {
		if code := <-codes; code != 200 {
			t.Fatalf("a waiting notification was answered %d, want 200", code)
		}
	}
}

// TestSlowBodyTimesOut: a sender that stops mid-body loses its read slot
// after BodyReadTimeout, and the others are read meanwhile.
func TestSlowBodyTimesOut(t *testing.T) {
	h := New(Options{MaxBodyBytes: 1 << 20, BodyReadTimeout: 200 * time.Millisecond}, &fakeResponder{}, prometheus.NewRegistry(), slog.New(slog.DiscardHandler))
	srv := httptest.NewServer(h)
	defer srv.Close()
	firing := readFile(t, "firing.json")
	var stalls []*io.PipeWriter
	for range MaxConcurrentBodies {
		pr, pw := io.Pipe()
		stalls = append(stalls, pw)
		go func() {
			if resp, err := http.Post(srv.URL, "application/json", pr); err == nil {
				resp.Body.Close()
			}
		}()
		go pw.Write([]byte(firing[:50])) // and then nothing
	}
	defer func() {
		for _, pw := range stalls {
			pw.Close()
		}
	}()
	var m dto.Metric
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if err := h.inFlight.Write(&m); err != nil || m.GetGauge().GetValue() == MaxConcurrentBodies {
			break
		}
	}
	if m.GetGauge().GetValue() != MaxConcurrentBodies {
		t.Fatalf("%v stalled bodies hold read slots, want all %d", m.GetGauge().GetValue(), MaxConcurrentBodies)
	}
	done := make(chan int, 1)
	go func() {
		resp, err := http.Post(srv.URL, "application/json", strings.NewReader(firing))
		if err != nil {
			done <- 0
			return
		}
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	select {
	case code := <-done:
		if code != 200 {
			t.Fatalf("the honest notification was answered %d", code)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("senders that stalled mid-body kept every read slot")
	}
}
