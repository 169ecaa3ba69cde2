package daemontest

import (
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// Build builds the main package pkg (a path as go build takes it, e.g. ".")
// into a fresh temporary directory as name and returns the binary's path.
func Build(t testing.TB, pkg, name string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), name)
	if out, err := exec.Command("go", "build", "-o", bin, pkg).CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, out)
	}
	return bin
}

// Process is a built daemon binary running on a loopback port.
type Process struct {
	// URL is http://127.0.0.1:PORT.
	URL string
	// Logs is its stdout and stderr.
	Logs *Buffer
	// Cmd is the running command (Cmd.Process.Pid for signals).
	Cmd    *exec.Cmd
	exited chan struct{}
}

// Run starts bin with args and --web.listen-address on a loopback port that
// was free a moment before, and waits (10 s) until GET /-/healthy answers
// 200. Cleanup interrupts it, waits (bounded) and kills it if it is still
// there, and logs its output when the test failed.
func Run(t testing.TB, bin string, args ...string) *Process {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free loopback port: %v", err)
	}
	addr := ln.Addr().String()
	ln.Close()
	p := &Process{URL: "http://" + addr, Logs: &Buffer{}}
	p.Cmd = exec.Command(bin, append(args, "--web.listen-address="+addr)...)
	p.Cmd.Stdout, p.Cmd.Stderr = p.Logs, p.Logs
	if err := p.Cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	p.exited = make(chan struct{})
	exited := p.exited
	go func() {
		_ = p.Cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		_ = p.Cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(startTimeout):
			_ = p.Cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("%s output:\n%s", filepath.Base(bin), p.Logs)
		}
	})
	for deadline := time.Now().Add(startTimeout); ; time.Sleep(50 * time.Millisecond) {
		if resp, err := http.Get(p.URL + "/-/healthy"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		select {
		case <-exited:
			t.Fatalf("%s exited before serving:\n%s", bin, p.Logs)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not answer on %s within %s:\n%s", bin, addr, startTimeout, p.Logs)
		}
	}
}

// Get returns the body of GET path and fails the test unless it is 200.
func (p *Process) Get(t testing.TB, path string) string {
	t.Helper()
	return get(t, p.URL, path)
}

// Kill SIGKILLs the process (a crash, for recovery tests) and waits until
// it is gone.
func (p *Process) Kill() {
	_ = p.Cmd.Process.Signal(syscall.SIGKILL)
	<-p.exited
}

// Exited is closed once the process has exited.
func (p *Process) Exited() <-chan struct{} { return p.exited }
