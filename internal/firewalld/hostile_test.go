package firewalld_test

import (
	"net/netip"
	"os/exec"
	"os/user"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/synguard/synguard/internal/daemontest"
	"github.com/synguard/synguard/internal/firewall"
	"github.com/synguard/synguard/internal/firewalld"
)

// forgeFrom runs test/lab/cmd/forgesignals (built as bin) as uid, sending
// its forged firewalld signals straight to dest, and returns its unique
// name and how many signals the bus took.
func forgeFrom(t *testing.T, bin, busAddr, dest string, uid int) (string, int) {
	t.Helper()
	out, err := exec.Command(bin, "-bus", busAddr, "-dest", dest, "-uid", strconv.Itoa(uid)).CombinedOutput()
	if err != nil {
		t.Fatalf("forgesignals as uid %d: %v: %s", uid, err, out)
	}
	f := strings.Fields(string(out))
	if len(f) != 2 {
		t.Fatalf("forgesignals printed %q", out)
	}
	n, _ := strconv.Atoi(f[1])
	return f[0], n
}

// TestRealForgedSignalsFromAnotherUID: on the lab's bus, which lets one
// unprivileged user (nobody) in as Debian's system bus lets any local user,
// that user sends the Client's connection forged NameOwnerChanged signals
// (firewalld gone, a new owner, a hand-over) and a forged Reloaded: they
// reach the connection (a witness connection gets the same ones), and
// change nothing: no event, no reload of firewalld (which would drop the
// runtime-only block), the block still drops, the backend stays up.
// firewalld's own Reloaded still arrives afterwards.
func TestRealForgedSignalsFromAnotherUID(t *testing.T) {
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Skipf("no user nobody to forge signals as: %v", err)
	}
	uid, _ := strconv.Atoi(nobody.Uid)
	l := startLab(t)
	bin := daemontest.Build(t, "../../test/lab/cmd/forgesignals", "forgesignals")
	conn := l.conn()
	c, err := firewalld.New(conn, firewalld.Config{Mode: firewalld.ModeZone, AllowReload: true}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Prepare(ctx(t), nil); err != nil {
		t.Fatal(err)
	}
	p := []netip.Prefix{block4}
	add(t, c, p)
	evs := watch(t, c)

	// The witness: a plain connection that records every signal sent to
	// it, so the test fails if the bus does not pass the forged ones on.
	witness := l.conn()
	got := make(chan *dbus.Signal, 64)
	witness.Signal(got)
	forger, n := forgeFrom(t, bin, l.busAddr, witness.Names()[0], uid)
	seen := 0
	for deadline := time.After(5 * time.Second); seen < n; {
		select {
		case s := <-got:
			if s.Sender == forger {
				seen++
			}
		case <-deadline:
			t.Fatalf("the witness got %d of the %d signals uid %d sent: the bus does not let the hostile user's signals through, so this test proves nothing", seen, n, uid)
		}
	}

	_, sent := forgeFrom(t, bin, l.busAddr, conn.Names()[0], uid)
	if sent != n {
		t.Fatalf("sent %d signals to the client, %d to the witness", sent, n)
	}
	select {
	case ev := <-evs.ch:
		t.Fatalf("a forged signal from uid %d made an event: %v (%s)", uid, ev.Kind, ev.Detail)
	case <-time.After(time.Second):
	}
	if err := c.Up(ctx(t)); err != nil {
		t.Fatalf("backend down after forged signals: %v", err)
	}
	if ls, err := c.List(ctx(t)); err != nil || len(ls) != 1 || ls[0] != block4 {
		t.Fatalf("List after forged signals = %v, %v: a reload drops the runtime-only block", ls, err)
	}
	l.mustNotReach(attacker4, "after forged signals")
	if sr := syncOK(t, c, p, p); sr.Added != 0 || sr.Removed != 0 {
		t.Fatalf("Sync after forged signals repaired +%d -%d: firewalld lost the block", sr.Added, sr.Removed)
	}
	l.fw("fw_reload")
	evs.next(t, firewall.Reloaded)
}
