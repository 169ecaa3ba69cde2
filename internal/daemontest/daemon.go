package daemontest

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// Buffer is a bytes.Buffer safe for concurrent writers, for a daemon's
// stdout and log output while a test reads them.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns everything written so far.
func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Env is what Start hands a daemon's Main: where to write, the listener to
// serve on and the channel to close once it serves. Both binaries' Main
// types take exactly these (NewMain(Stdout, Logs), .Listener, .Ready).
type Env struct {
	Stdout, Logs io.Writer
	Listener     net.Listener
	Ready        chan struct{}
}

// Daemon is a Main running in-process on a loopback port.
type Daemon struct {
	// URL is http://127.0.0.1:PORT.
	URL string
	// Stdout and Logs are what the daemon wrote.
	Stdout, Logs *Buffer
	t            testing.TB
	name         string
	cancel       context.CancelFunc
	done         chan int
	once         sync.Once
}

// startTimeout bounds both the start-up and the shutdown of a daemon.
const startTimeout = 10 * time.Second

// Start runs run (a binary's Main, wired to env) on 127.0.0.1:0 and waits
// until it closes env.Ready; a Main that exits first or does not serve
// within 10 s fails the test, with its log. Cleanup stops it (bounded) and,
// when the test failed, logs what it wrote. name names it in messages.
//
//	d := daemontest.Start(t, "exporter", func(ctx context.Context, env daemontest.Env) int {
//		m := NewMain(env.Stdout, env.Logs)
//		m.Listener, m.Ready = env.Listener, env.Ready
//		return m.Main(ctx, args)
//	})
func Start(t testing.TB, name string, run func(ctx context.Context, env Env) int) *Daemon {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("%s: listen on loopback: %v", name, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	d := &Daemon{
		URL: "http://" + ln.Addr().String(), Stdout: &Buffer{}, Logs: &Buffer{},
		t: t, name: name, cancel: cancel, done: make(chan int, 1),
	}
	env := Env{Stdout: d.Stdout, Logs: d.Logs, Listener: ln, Ready: make(chan struct{})}
	go func() { d.done <- run(ctx, env) }()
	t.Cleanup(func() {
		d.Stop()
		// What the daemon said is what explains a failure.
		if t.Failed() {
			t.Logf("%s log:\n%s", name, d.Logs)
		}
	})
	select {
	case <-env.Ready:
	case code := <-d.done:
		d.done <- code
		t.Fatalf("%s exited with %d before serving:\n%s", name, code, d.Logs)
	case <-time.After(startTimeout):
		t.Fatalf("%s did not serve within %s:\n%s", name, startTimeout, d.Logs)
	}
	return d
}

// Stop cancels the daemon's context and waits (bounded) for Main to
// return; it is safe to call more than once.
func (d *Daemon) Stop() {
	d.once.Do(func() {
		d.cancel()
		select {
		case <-d.done:
		case <-time.After(startTimeout):
			d.t.Errorf("%s did not stop within %s", d.name, startTimeout)
		}
	})
}

// Do sends one request and returns the status and body; header is pairs
// of name and value. A request that cannot be sent fails the test.
func (d *Daemon) Do(t testing.TB, method, path, contentType, body string, header ...string) (int, string) {
	t.Helper()
	return do(t, d.URL, method, path, contentType, body, header...)
}

// Get returns the body of GET path and fails the test unless it is 200.
func (d *Daemon) Get(t testing.TB, path string) string {
	t.Helper()
	return get(t, d.URL, path)
}

func do(t testing.TB, base, method, path, contentType, body string, header ...string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, base+path, strings.NewReader(body))
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return resp.StatusCode, string(b)
}

func get(t testing.TB, base, path string) string {
	t.Helper()
	code, body := do(t, base, http.MethodGet, path, "", "")
	if code != http.StatusOK {
		t.Fatalf("GET %s: %d: %s", path, code, body)
	}
	return body
}

// Eventually polls cond every 100 ms until it holds or within passes, then
// fails the test with what, and with the last state cond reported.
func Eventually(t testing.TB, what string, within time.Duration, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s; last seen: %s", what, within, state)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
