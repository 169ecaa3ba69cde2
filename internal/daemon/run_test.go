package daemon

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alecthomas/kingpin/v2"
)

// toy is a binary for Run: its config is one line of text, "bad" refuses.
type toy struct {
	mu       sync.Mutex
	events   []string
	greeting string
}

func (b *toy) log(e string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.events = append(b.events, e)
}

func (b *toy) seen() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.events)
}

func loadText(path string) (string, error) {
	if path == "" {
		return "default", nil
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	s := strings.TrimSpace(string(raw))
	if s == "bad" {
		return "", fmt.Errorf("%s:1: bad is not a config", path)
	}
	return s, nil
}

func (b *toy) spec(startErr error) Spec[string] {
	return Spec[string]{
		Name: "synguard-toy", ProgramName: "synguard_toy", Help: "A toy.", What: "toy", DefaultAddr: ":0",
		Title: "toy", Description: "a toy daemon",
		Flags: func(app *kingpin.Application) {
			app.Flag("greeting", "What /hello says.").Default("hello").StringVar(&b.greeting)
			app.Command("serve", "Serve.").Default()
			app.Command("shout", "Print the config loudly.")
		},
		Load: loadText,
		Commands: map[string]func(context.Context, *Runtime, string) error{
			"shout": func(_ context.Context, r *Runtime, cfg string) error {
				if cfg == "fail" {
					return errors.New("cannot shout")
				}
				fmt.Fprintln(r.Stdout, strings.ToUpper(cfg))
				return nil
			},
		},
		Start: func(ctx context.Context, r *Runtime, cfg string) (*Service[string], error) {
			b.log("start " + cfg)
			r.OnStop(func() { b.log("stop first registered") })
			r.OnStop(func() {
				// Background work's ctx has ended before the clean-ups run.
				b.log(fmt.Sprintf("stop last registered (ctx done: %v)", ctx.Err() != nil))
			})
			if startErr != nil {
				return nil, startErr
			}
			return &Service[string]{
				Apply: func(next string) error {
					b.log("apply " + next)
					return nil
				},
				Mount: func(mux *http.ServeMux) {
					mux.HandleFunc("/hello", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, b.greeting, cfg) })
				},
			}, nil
		},
	}
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRunExits(t *testing.T) {
	dir := t.TempDir()
	good, bad, fail := writeFile(t, dir, "good.yml", "calm\n"), writeFile(t, dir, "bad.yml", "bad\n"), writeFile(t, dir, "fail.yml", "fail\n")
	tests := []struct {
		name       string
		args       []string
		startErr   error
		wantCode   int
		wantStdout string
		wantStderr string
	}{
		{name: "help", args: []string{"--help"}, wantCode: 0, wantStdout: "A toy."},
		{name: "version", args: []string{"--version"}, wantCode: 0, wantStdout: "synguard_toy"},
		{name: "bad flag", args: []string{"--no-such-flag"}, wantCode: 2, wantStderr: "synguard-toy: unknown long flag"},
		{name: "check good", args: []string{"--config.check", "--config.file=" + good}, wantCode: 0, wantStdout: good + ": config OK"},
		{name: "check defaults", args: []string{"--config.check"}, wantCode: 0, wantStdout: "(no --config.file: defaults): config OK"},
		{name: "check bad", args: []string{"--config.check", "--config.file=" + bad}, wantCode: 1, wantStderr: "config check failed: " + bad + ":1: bad is not a config"},
		{name: "start with bad config", args: []string{"--config.file=" + bad}, wantCode: 1, wantStderr: "refusing to start: bad configuration"},
		{name: "command", args: []string{"shout", "--config.file=" + good}, wantCode: 0, wantStdout: "CALM"},
		{name: "command fails", args: []string{"shout", "--config.file=" + fail}, wantCode: 1, wantStderr: "shout failed"},
		{name: "start fails", args: []string{"--web.listen-address=127.0.0.1:0"}, startErr: errors.New("no collectors today"), wantCode: 1, wantStderr: "toy stopped"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			b := &toy{}
			code := Run(t.Context(), b.spec(tt.startErr), tt.args, IO{Stdout: &stdout, Stderr: &stderr})
			if code != tt.wantCode || !strings.Contains(stdout.String(), tt.wantStdout) || !strings.Contains(stderr.String(), tt.wantStderr) {
				t.Fatalf("exit %d (want %d)\nstdout %q (want %q)\nstderr %q (want %q)", code, tt.wantCode, stdout.String(), tt.wantStdout, stderr.String(), tt.wantStderr)
			}
			if tt.startErr != nil {
				want := []string{"start default", "stop last registered (ctx done: true)", "stop first registered"}
				if got := b.seen(); !slices.Equal(got, want) {
					t.Errorf("after a failed start: %q, want %q", got, want)
				}
			}
		})
	}
}

func TestRunServes(t *testing.T) {
	dir := t.TempDir()
	cfg := writeFile(t, dir, "toy.yml", "calm\n")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	b := &toy{}
	var stderr bytes.Buffer
	ready := make(chan struct{})
	done := make(chan int, 1)
	go func() {
		done <- Run(ctx, b.spec(nil), []string{"--config.file=" + cfg, "--greeting=hi", "--web.enable-lifecycle"}, IO{Stdout: io.Discard, Stderr: &stderr, Listener: ln, Ready: ready})
	}()
	select {
	case <-ready:
	case code := <-done:
		t.Fatalf("Run returned %d before serving: %s", code, stderr.String())
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not serve within 10s")
	}
	base := "http://" + ln.Addr().String()
	get := func(method, path string) (int, string) {
		t.Helper()
		req, _ := http.NewRequestWithContext(t.Context(), method, base+path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	for _, c := range []struct{ method, path, want string }{
		{"GET", "/hello", "hi calm"},                                        // the binary's own flag, config and handler
		{"GET", "/metrics", "synguard_toy_build_info"},                      // the registry
		{"GET", "/metrics", "synguard_toy_config_last_reload_successful 1"}, // the reloader
		{"GET", "/metrics", "go_goroutines"},                                // exporter metrics by default
		{"GET", "/-/healthy", "Healthy"},
		{"GET", "/", "a toy daemon"}, // the landing page
	} {
		if code, body := get(c.method, c.path); code != http.StatusOK || !strings.Contains(body, c.want) {
			t.Errorf("%s %s = %d %q, want 200 with %q", c.method, c.path, code, body, c.want)
		}
	}
	// A reload re-reads the file and hands it to Apply; a bad one is refused
	// before Apply sees it.
	writeFile(t, dir, "toy.yml", "stormy\n")
	if code, body := get("POST", "/-/reload"); code != http.StatusOK {
		t.Errorf("reload = %d %q", code, body)
	}
	writeFile(t, dir, "toy.yml", "bad\n")
	if code, _ := get("POST", "/-/reload"); code == http.StatusOK {
		t.Error("reload of a bad config succeeded")
	}
	if _, body := get("GET", "/metrics"); !strings.Contains(body, "synguard_toy_config_last_reload_successful 0") {
		t.Error("failed reload not counted in synguard_toy_config_last_reload_successful")
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("Run = %d after ctx ended: %s", code, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return within 10s of ctx ending")
	}
	want := []string{"start calm", "apply stormy", "stop last registered (ctx done: true)", "stop first registered"}
	if got := b.seen(); !slices.Equal(got, want) {
		t.Errorf("events %q, want %q", got, want)
	}
}
