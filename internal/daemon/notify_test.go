package daemon

import (
	"bytes"
	"context"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/synguard/synguard/internal/daemontest"
)

// notifySocket is a real $NOTIFY_SOCKET read by the test.
func notifySocket(t *testing.T) <-chan string { return daemontest.NotifySocket(t) }

// TestReadyWaitsForListeningAndHolds: READY=1 goes to systemd through the
// real sd_notify protocol once the server listens and every HoldReady has
// been released, exactly once; a binary that cannot bind never says READY.
func TestReadyWaitsForListeningAndHolds(t *testing.T) {
	got := notifySocket(t)
	b := &toy{}
	spec := b.spec(nil)
	start := spec.Start
	release := make(chan struct{})
	spec.Start = func(ctx context.Context, r *Runtime, cfg string) (*Service[string], error) {
		done := r.HoldReady()
		go func() { <-release; done(); done() }() // a second call does nothing
		return start(ctx, r, cfg)
	}
	ctx, cancel := context.WithCancel(t.Context())
	var stderr bytes.Buffer
	exited := make(chan int, 1)
	go func() {
		exited <- Run(ctx, spec, []string{"--web.listen-address=127.0.0.1:0"}, IO{Stdout: io.Discard, Stderr: &stderr})
	}()
	select {
	case s := <-got:
		t.Fatalf("%q sent while Start still holds READY", s)
	case code := <-exited:
		t.Fatalf("Run returned %d: %s", code, stderr.String())
	case <-time.After(500 * time.Millisecond):
	}
	close(release)
	select {
	case s := <-got:
		if s != "READY=1" {
			t.Fatalf("sent %q, want READY=1", s)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("no READY=1 after the hold was released: %s", stderr.String())
	}
	cancel()
	if code := <-exited; code != 0 {
		t.Fatalf("Run = %d: %s", code, stderr.String())
	}
	select {
	case s := <-got:
		t.Errorf("a second notification %q", s)
	default:
	}

	// Nothing listens when the address is taken: no READY, exit 1.
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	stderr.Reset()
	code := Run(t.Context(), (&toy{}).spec(nil), []string{"--web.listen-address=" + busy.Addr().String()}, IO{Stdout: io.Discard, Stderr: &stderr})
	if code != 1 || !strings.Contains(stderr.String(), "address already in use") {
		t.Errorf("Run on a taken address = %d: %s", code, stderr.String())
	}
	select {
	case s := <-got:
		t.Errorf("%q sent by a binary that could not listen", s)
	case <-time.After(200 * time.Millisecond):
	}
}

// TestReadyWithoutHold: a binary that holds nothing (the exporter) is
// ready as soon as it listens: the notification comes while its address
// already accepts connections. IO.Notify stands in for the socket.
func TestReadyWithoutHold(t *testing.T) {
	addr := func() string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		return ln.Addr().String()
	}()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	dialled := make(chan error, 1)
	notify := func(state string) (bool, error) {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		dialled <- err
		return true, nil
	}
	exited := make(chan int, 1)
	go func() {
		exited <- Run(ctx, (&toy{}).spec(nil), []string{"--web.listen-address=" + addr}, IO{Stdout: io.Discard, Stderr: io.Discard, Notify: notify})
	}()
	select {
	case err := <-dialled:
		if err != nil {
			t.Errorf("READY sent before the address accepts connections: %v", err)
		}
	case code := <-exited:
		t.Fatalf("Run returned %d", code)
	case <-time.After(10 * time.Second):
		t.Fatal("no READY within 10s")
	}
	cancel()
	<-exited
}
