package main

import (
	"strings"
	"testing"
	"time"

	"github.com/synguard/synguard/internal/daemontest"
	"github.com/synguard/synguard/internal/firewalld/firewalldtest"
)

// readNotify is a real $NOTIFY_SOCKET for the responder's sd_notify.
func readNotify(t *testing.T) <-chan string { return daemontest.NotifySocket(t) }

func waitReady(t *testing.T, got <-chan string) {
	t.Helper()
	select {
	case s := <-got:
		if s != "READY=1" {
			t.Fatalf("sent %q, want READY=1", s)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("no READY=1 within 15s")
	}
}

// TestReadyAfterFirstPrepare: the responder tells systemd it is ready only
// once its first firewall backend setup has been tried: with firewalld
// there, the setup is done (the ipsets exist, the first sync answered);
// with firewalld gone from the bus, READY still comes, after the failure is logged,
// so a unit never hangs in "activating" on a dead firewall.
func TestReadyAfterFirstPrepare(t *testing.T) {
	t.Run("firewalld answers", func(t *testing.T) {
		// The socket after the fake firewalld's bus: a dbus-daemon that
		// inherits NOTIFY_SOCKET says READY=1 too.
		_, addr := firewalldtest.Start(t)
		got := readNotify(t)
		r := startResponder(t, "--dbus.address="+addr, "--config.file="+writeConfig(t, ""))
		waitReady(t, got)
		if logs := r.Logs.String(); !strings.Contains(logs, "created permanent ipset") || !strings.Contains(logs, "firewall backend answers") {
			t.Errorf("READY before the backend setup finished; log so far:\n%s", logs)
		}
	})
	t.Run("firewalld absent", func(t *testing.T) {
		fake, addr := firewalldtest.Start(t)
		fake.Crash() // the bus stays, firewalld's name goes
		got := readNotify(t)
		r := startResponder(t, "--dbus.address="+addr, "--config.file="+writeConfig(t, ""))
		waitReady(t, got)
		if logs := r.Logs.String(); !strings.Contains(logs, "firewall backend call failed") {
			t.Errorf("READY before the failed setup was logged; log so far:\n%s", logs)
		}
	})
}
