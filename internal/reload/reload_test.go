package reload

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

func TestReloader(t *testing.T) {
	calls := make(chan struct{}, 10)
	var fail error
	r := New(slog.New(slog.NewTextHandler(io.Discard, nil)), "test", func() error {
		calls <- struct{}{}
		return fail
	})
	r.MarkLoaded()
	srv := httptest.NewServer(r)
	defer srv.Close()

	post := func() (int, string) {
		resp, err := http.Post(srv.URL, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := post(); code != 200 {
		t.Fatalf("good reload: %d", code)
	}
	fail = errors.New("f.yml:3: bad")
	if code, body := post(); code != 500 || !strings.Contains(body, "f.yml:3: bad") {
		t.Fatalf("bad reload: %d %q", code, body)
	}
	if v := lastOK(t, r); v != 0 {
		t.Fatalf("last_reload_successful = %v after a failure", v)
	}
	// A web page in an operator's browser posting cross-site.
	before := len(calls)
	req, _ := http.NewRequest(http.MethodPost, srv.URL, nil)
	req.Header.Set("Origin", "http://evil.example")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusForbidden || len(calls) != before {
		t.Fatalf("cross-site reload: %v %v, %d reloads", resp, err, len(calls)-before)
	}
	resp, err := http.Get(srv.URL)
	if err != nil || resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("GET: %v %v", resp, err)
	}

	fail = nil
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r.WatchSignals(ctx)
	for len(calls) > 0 {
		<-calls
	}
	deadline := time.After(5 * time.Second)
	for {
		if err := syscall.Kill(syscall.Getpid(), syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		select {
		case <-calls:
			if v := lastOK(t, r); v != 1 {
				t.Fatalf("last_reload_successful = %v after SIGHUP", v)
			}
			return
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			t.Fatal("SIGHUP did not reload")
		}
	}
}

// lastOK reads <prefix>_config_last_reload_successful.
func lastOK(t *testing.T, r *Reloader) float64 {
	t.Helper()
	ch := make(chan prometheus.Metric, 2)
	r.Collect(ch)
	var m dto.Metric
	if err := (<-ch).Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetGauge().GetValue()
}
