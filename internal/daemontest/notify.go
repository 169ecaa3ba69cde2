package daemontest

import (
	"net"
	"path/filepath"
	"testing"
)

// NotifySocket makes a real $NOTIFY_SOCKET (the datagram socket systemd
// gives a Type=notify service), sets the variable for the test, and
// returns what is sent to it, one message a value ("READY=1").
func NotifySocket(t testing.TB) <-chan string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify.sock")
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	t.Setenv("NOTIFY_SOCKET", path)
	got := make(chan string, 16)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := c.Read(buf)
			if err != nil {
				return
			}
			got <- string(buf[:n])
		}
	}()
	return got
}
