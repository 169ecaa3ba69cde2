package soak

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/synguard/synguard/internal/daemontest"
	"github.com/synguard/synguard/internal/lab"
)

// responder is the synguard-responder binary, started again after every
// crash with the same configuration, state and port. With inNS set (the
// nftables backend) it runs inside the lab's victim namespace, where its
// backend's table lives, and is reached on that namespace's loopback.
type responder struct {
	bin, cfg, addr, inNS string
	// args are the responder's further flags (--dbus.address).
	args []string
	// logs collects every incarnation's output.
	logs   *daemontest.Buffer
	client *http.Client
	cmd    *exec.Cmd
	exited chan struct{}
	token  string
}

func newResponder(bin, cfg, inNS, token string) (*responder, error) {
	r := &responder{bin: bin, cfg: cfg, inNS: inNS, logs: &daemontest.Buffer{}, token: token}
	dial := (&net.Dialer{Timeout: 5 * time.Second}).DialContext
	if inNS != "" {
		dial = func(ctx context.Context, network, a string) (net.Conn, error) {
			var c net.Conn
			err := lab.InNetns(inNS, func() error {
				var err error
				c, err = (&net.Dialer{Timeout: 5 * time.Second}).DialContext(ctx, network, a)
				return err
			})
			return c, err
		}
	}
	// No keep-alive: a connection must not outlive the process it reached.
	r.client = &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{DialContext: dial, DisableKeepAlives: true}}
	var ln net.Listener
	listen := func() error {
		var err error
		ln, err = net.Listen("tcp", "127.0.0.1:0")
		return err
	}
	var err error
	if inNS != "" {
		err = lab.InNetns(inNS, listen)
	} else {
		err = listen()
	}
	if err != nil {
		return nil, fmt.Errorf("find a free loopback port: %w", err)
	}
	r.addr = ln.Addr().String()
	ln.Close()
	return r, nil
}

// start runs the responder and waits (bounded) until /-/healthy answers.
func (r *responder) start(within time.Duration) error {
	argv := append([]string{r.bin, "--config.file=" + r.cfg, "--web.listen-address=" + r.addr, "--web.disable-exporter-metrics"}, r.args...)
	if r.inNS != "" {
		// ip netns exec execs the binary itself: the PID is the responder's.
		argv = append([]string{"ip", "netns", "exec", r.inNS}, argv...)
	}
	fmt.Fprintf(r.logs, "---- start %s\n", strings.Join(argv, " "))
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = r.logs, r.logs
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start the responder: %w", err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	r.cmd, r.exited = cmd, exited
	for deadline := time.Now().Add(within); ; time.Sleep(100 * time.Millisecond) {
		if code, _, err := r.do(http.MethodGet, "/-/healthy", "", nil); err == nil && code == http.StatusOK {
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("the responder exited before serving (%v)", cmd.ProcessState)
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the responder did not serve within %s", within)
		}
	}
}

// running reports whether the last started responder still runs.
func (r *responder) running() bool {
	if r.cmd == nil {
		return false
	}
	select {
	case <-r.exited:
		return false
	default:
		return true
	}
}

// pid is the running responder's PID.
func (r *responder) pid() int { return r.cmd.Process.Pid }

// kill SIGKILLs the responder by its PID and waits until it is gone.
func (r *responder) kill() {
	if !r.running() {
		return
	}
	_ = r.cmd.Process.Signal(syscall.SIGKILL)
	<-r.exited
}

// stop asks the responder to stop (SIGTERM), bounded, then kills it.
func (r *responder) stop() {
	if !r.running() {
		return
	}
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.exited:
	case <-time.After(15 * time.Second):
		r.kill()
	}
}

// do sends one request; header is pairs of name and value.
func (r *responder) do(method, path, contentType string, body []byte, header ...string) (int, string, error) {
	req, err := http.NewRequest(method, "http://"+r.addr+path, bytes.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, string(b), err
}

// authed sends a request with the bearer token.
func (r *responder) authed(method, path string, body []byte, header ...string) (int, string, error) {
	return r.do(method, path, "application/json", body, append([]string{"Authorization", "Bearer " + r.token}, header...)...)
}

// listing is what GET /api/v1/blocks says.
type listing struct {
	Blocks []struct {
		Prefix  string `json:"prefix"`
		Applied bool   `json:"applied"`
		Source  string `json:"source"`
	} `json:"blocks"`
	Waiting []struct {
		Prefix string `json:"prefix"`
	} `json:"waiting"`
	BackendUp bool `json:"backend_up"`
}

// state is the responder's active set, as its API shows it.
type state struct {
	active  []netip.Prefix
	pending []netip.Prefix
	waiting int
	up      bool
}

func (s state) String() string {
	return fmt.Sprintf("active=%v pending=%v waiting=%d backend_up=%v", s.active, s.pending, s.waiting, s.up)
}

func (r *responder) state() (state, error) {
	code, body, err := r.do(http.MethodGet, "/api/v1/blocks", "", nil)
	if err != nil {
		return state{}, err
	}
	if code != http.StatusOK {
		return state{}, fmt.Errorf("GET /api/v1/blocks: %d %s", code, body)
	}
	var l listing
	if err := json.Unmarshal([]byte(body), &l); err != nil {
		return state{}, fmt.Errorf("decode /api/v1/blocks: %w", err)
	}
	s := state{waiting: len(l.Waiting), up: l.BackendUp}
	for _, b := range l.Blocks {
		p, err := netip.ParsePrefix(b.Prefix)
		if err != nil {
			return state{}, fmt.Errorf("/api/v1/blocks: %w", err)
		}
		s.active = append(s.active, p)
		if !b.Applied {
			s.pending = append(s.pending, p)
		}
	}
	return s, nil
}

// countLog counts the log lines holding any of subs.
func (r *responder) countLog(subs ...string) int {
	n := 0
	for _, line := range strings.Split(r.logs.String(), "\n") {
		for _, s := range subs {
			if strings.Contains(line, s) {
				n++
				break
			}
		}
	}
	return n
}

// tail is the last n lines of the responder's output.
func (r *responder) tail(n int) string {
	lines := strings.Split(strings.TrimSpace(r.logs.String()), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// stateDir is a small tmpfs the test mounts for the responder's state, so
// that a file can fill it up.
type stateDir struct {
	dir  string
	fill string
}

func mountStateDir(name string, size string) (*stateDir, error) {
	dir := filepath.Join(os.TempDir(), name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size+",mode=0700", name, dir).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("mount a tmpfs on %s: %v: %s", dir, err, out)
	}
	return &stateDir{dir: dir, fill: filepath.Join(dir, "filler")}, nil
}

// full fills the tmpfs up with a file (bounded by its size).
func (s *stateDir) full() error {
	f, err := os.OpenFile(s.fill, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	for range 4096 {
		if _, err := f.Write(buf); err != nil {
			if errors.Is(err, syscall.ENOSPC) {
				return nil
			}
			return err
		}
	}
	return errors.New("the state tmpfs never filled up")
}

func (s *stateDir) isFull() bool {
	_, err := os.Stat(s.fill)
	return err == nil
}

// free removes the filler.
func (s *stateDir) free() error { return os.Remove(s.fill) }

// unmount unmounts the tmpfs (lazily if something still holds it) and
// removes the mount point.
func (s *stateDir) unmount() error {
	if out, err := exec.Command("umount", s.dir).CombinedOutput(); err != nil {
		if out2, err2 := exec.Command("umount", "-l", s.dir).CombinedOutput(); err2 != nil {
			return fmt.Errorf("umount %s: %v: %s; lazily: %v: %s", s.dir, err, out, err2, out2)
		}
	}
	return os.Remove(s.dir)
}
