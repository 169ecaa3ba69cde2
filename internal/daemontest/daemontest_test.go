package daemontest

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestBufferConcurrentWriters(t *testing.T) {
	var b Buffer
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				fmt.Fprintf(&b, "%d\n", i)
			}
		}()
	}
	wg.Wait()
	if n := strings.Count(b.String(), "\n"); n != 800 {
		t.Fatalf("%d lines, want 800", n)
	}
}

// serve is a minimal Main: it serves /-/healthy until ctx ends.
func serve(ctx context.Context, env Env) int {
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(env.Logs, "request", r.URL.Path)
		fmt.Fprint(w, "ok")
	})}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	close(env.Ready)
	_ = srv.Serve(env.Listener)
	return 0
}

func TestStartServesAndStops(t *testing.T) {
	d := Start(t, "fake", serve)
	if got := d.Get(t, "/-/healthy"); got != "ok" {
		t.Fatalf("GET /-/healthy = %q", got)
	}
	if !strings.Contains(d.Logs.String(), "request /-/healthy") {
		t.Errorf("log lacks the request: %q", d.Logs)
	}
	d.Stop()
	d.Stop() // twice is fine
	if _, err := http.Get(d.URL + "/"); err == nil {
		t.Error("still serving after Stop")
	}
}

func TestGoldenMatchesAndDiffers(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.txt")
	want := "a 1\nb 2\nc 3\nd 4\ne 5\nf 6\n"
	if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
		t.Fatal(err)
	}
	Golden(t, path, want)
	ft := &fakeT{TB: t}
	Golden(ft, path, strings.Replace(want, "b 2", "b 7", 1))
	// cmp's report is not stable text (it varies its spaces on purpose):
	// look for the lines only.
	if !strings.Contains(ft.msg, `"b 2"`) || !strings.Contains(ft.msg, `"b 7"`) || strings.Contains(ft.msg, `"f 6"`) {
		t.Fatalf("diff does not show the changed line:\n%s", ft.msg)
	}
}

func TestEventually(t *testing.T) {
	start := time.Now()
	n := 0
	Eventually(t, "third poll", 5*time.Second, func() (bool, string) { n++; return n == 3, fmt.Sprint(n) })
	if n != 3 || time.Since(start) > 2*time.Second {
		t.Fatalf("polled %d times in %s", n, time.Since(start))
	}
}

// fakeT records Errorf instead of failing the real test.
type fakeT struct {
	testing.TB
	msg string
}

func (f *fakeT) Helper() {}
func (f *fakeT) Errorf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
}
