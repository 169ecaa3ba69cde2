package daemon

import (
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestConnectionsLimited: beyond the cap a new connection is closed at
// once; once one ends, a new one is served again.
func TestConnectionsLimited(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") })}
	limitConns(srv, 3, slog.New(slog.DiscardHandler))
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	dial := func() net.Conn {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	// closed reports whether the server closed c (EOF) rather than keeping
	// it open, idle, for a request.
	closed := func(c net.Conn) bool {
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		_, err := c.Read(make([]byte, 1))
		return err == io.EOF
	}
	held := []net.Conn{dial(), dial(), dial()}
	time.Sleep(50 * time.Millisecond) // accepted
	if c := dial(); !closed(c) {
		t.Fatal("a fourth connection over a cap of 3 was kept open")
	}
	held[0].Close()
	time.Sleep(50 * time.Millisecond)
	c := dial()
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	b := make([]byte, 12)
	if _, err := io.ReadFull(c, b); err != nil || string(b) != "HTTP/1.1 200" {
		t.Fatalf("after one closed, a new connection got %q, %v", b, err)
	}
}

// TestReloadNeedsLifecycleFlag: without --web.enable-lifecycle, POST
// /-/reload is refused and reloads nothing (SIGHUP still does).
func TestReloadNeedsLifecycleFlag(t *testing.T) {
	reloads := 0
	reload := http.HandlerFunc(func(http.ResponseWriter, *http.Request) { reloads++ })
	for _, on := range []bool{false, true} {
		f := &Flags{MetricsPath: "/metrics", EnableLifecycle: on}
		mux := f.NewMux(nil, reload, slog.New(slog.DiscardHandler))
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/-/reload", nil))
		if !on && (rec.Code != http.StatusForbidden || reloads != 0 || !strings.Contains(rec.Body.String(), "--web.enable-lifecycle")) {
			t.Fatalf("without the flag: %d %q, %d reloads", rec.Code, rec.Body.String(), reloads)
		}
		if on && reloads != 1 {
			t.Fatalf("with the flag the reload handler ran %d times", reloads)
		}
	}
}

// TestBuildInfoHasDate: PROGRAM_build_info carries the build date and the
// version labels, as make build stamps them.
func TestBuildInfoHasDate(t *testing.T) {
	reg := (&Flags{DisableExporterMetrics: true}).NewRegistry("synguard_test")
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "synguard_test_build_info" {
			continue
		}
		have := map[string]bool{}
		for _, l := range mf.GetMetric()[0].GetLabel() {
			have[l.GetName()] = true
		}
		for _, want := range []string{"version", "revision", "branch", "build_date", "goversion", "goos", "goarch"} {
			if !have[want] {
				t.Errorf("build_info lacks %s: %v", want, have)
			}
		}
		return
	}
	t.Fatal("no synguard_test_build_info")
}
