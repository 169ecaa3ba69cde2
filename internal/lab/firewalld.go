package lab

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The lab's addresses:
//
//	victim   veth 198.51.100.1/24    2001:db8:5::1/48      echo server :Port
//	attacker veth 198.51.100.33/24   2001:db8:5:1::33/48   inside Block4 and Block6
//	              198.51.100.100/24  2001:db8:5:2::100/48  control, outside them
var (
	Victim4   = netip.MustParseAddr("198.51.100.1")
	Victim6   = netip.MustParseAddr("2001:db8:5::1")
	Attacker4 = netip.MustParseAddr("198.51.100.33")
	Attacker6 = netip.MustParseAddr("2001:db8:5:1::33")
	Control4  = netip.MustParseAddr("198.51.100.100")
	Control6  = netip.MustParseAddr("2001:db8:5:2::100")
	Block4    = netip.MustParsePrefix("198.51.100.32/27")
	Block6    = netip.MustParsePrefix("2001:db8:5:1::/64")
)

// Port is the echo server's port, open in the public zone.
const Port = 8080

var seq atomic.Int32

// Lab is a running lab.
type Lab struct {
	t testing.TB
	// NS is the victim namespace (firewalld's), Att the attacker's.
	NS, Att string
	// State is test/lab/firewalld.sh's state directory.
	State string
	// BusAddr is the private bus's D-Bus address.
	BusAddr string
	script  string
}

// NeedRoot skips a test that needs root and the firewalld lab's tools,
// saying which.
func NeedRoot(t testing.TB) {
	t.Helper()
	Need(t, "runs a real firewalld in its own network namespace",
		"firewalld", "firewall-cmd", "dbus-daemon", "ip", "nft", "unshare", "nsenter")
}

// Start brings up firewalld in a fresh victim namespace named with prefix
// (a helper's prefix, e.g. "sgf"), the attacker namespace and the echo
// server. script is the path of test/lab/firewalld.sh. Cleanup tears it all
// down by recorded PIDs and checks the root namespace's firewall stayed as
// it was.
func Start(t testing.TB, prefix, script string) *Lab {
	t.Helper()
	NeedRoot(t)
	rootTables := nftTables(t, "")
	name := fmt.Sprintf("%s-%d-%d", prefix, os.Getpid(), seq.Add(1))
	l := &Lab{t: t, NS: name, Att: name + "a", State: filepath.Join(os.TempDir(), name)}
	var err error
	if l.script, err = filepath.Abs(script); err != nil {
		t.Fatal(err)
	}
	l.BusAddr = "unix:path=" + filepath.Join(l.State, "bus.sock")
	t.Cleanup(func() {
		if out, err := l.FwOut("fw_down"); err != nil {
			t.Errorf("fw_down: %v: %s", err, out)
		}
		_ = exec.Command("ip", "netns", "del", l.Att).Run()
		if got := nftTables(t, ""); got != rootTables {
			t.Errorf("the root namespace's nft tables changed: %q -> %q", rootTables, got)
		}
		if !t.Failed() {
			_ = os.RemoveAll(l.State)
		}
	})
	l.Fw("fw_up")
	vif, aif := prefix+"v0", prefix+"a0"
	sh := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	sh("ip", "netns", "add", l.Att)
	sh("ip", "-n", l.Att, "link", "set", "lo", "up")
	sh("ip", "-n", l.NS, "link", "add", vif, "type", "veth", "peer", "name", aif, "netns", l.Att)
	sh("ip", "-n", l.NS, "addr", "add", Victim4.String()+"/24", "dev", vif)
	sh("ip", "-n", l.NS, "addr", "add", Victim6.String()+"/48", "dev", vif, "nodad")
	sh("ip", "-n", l.NS, "link", "set", vif, "up")
	for _, a := range []string{Attacker4.String() + "/24", Control4.String() + "/24"} {
		sh("ip", "-n", l.Att, "addr", "add", a, "dev", aif)
	}
	for _, a := range []string{Attacker6.String() + "/48", Control6.String() + "/48"} {
		sh("ip", "-n", l.Att, "addr", "add", a, "dev", aif, "nodad")
	}
	sh("ip", "-n", l.Att, "link", "set", aif, "up")
	// The port is open in the zone the interface falls into (public), runtime
	// and permanent, so only the drop zone can stop it.
	l.Fw("fw_cmd", "--permanent", "--zone=public", fmt.Sprintf("--add-port=%d/tcp", Port))
	l.Fw("fw_cmd", "--zone=public", fmt.Sprintf("--add-port=%d/tcp", Port))
	l.startEcho()
	for _, src := range []netip.Addr{Attacker4, Control4, Attacker6, Control6} {
		if err := l.WaitReach(src, 10*time.Second); err != nil {
			t.Fatalf("lab: %v cannot reach the victim before any block: %v", src, err)
		}
	}
	return l
}

// FwOut runs one function of test/lab/firewalld.sh for this lab.
func (l *Lab) FwOut(fn string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	argv := append([]string{"-c", `. "$0" && "$@"`, l.script, fn}, args...)
	cmd := exec.CommandContext(ctx, "bash", argv...)
	cmd.Env = append(os.Environ(), "FW_NS="+l.NS, "FW_STATE="+l.State)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// Fw runs one function of test/lab/firewalld.sh and fails the test if it
// fails (fw_reload, fw_crash_restart, fw_cmd ARGS...).
func (l *Lab) Fw(fn string, args ...string) string {
	l.t.Helper()
	out, err := l.FwOut(fn, args...)
	if err != nil {
		l.t.Fatalf("%s %s: %v\n%s", fn, strings.Join(args, " "), err, out)
	}
	return out
}

// NftRules counts the lines of the victim's ruleset that mention s.
func (l *Lab) NftRules(s string) int {
	l.t.Helper()
	out, err := exec.Command("ip", "netns", "exec", l.NS, "nft", "list", "ruleset").CombinedOutput()
	if err != nil {
		l.t.Fatalf("nft list ruleset: %v: %s", err, out)
	}
	return strings.Count(string(out), s)
}

func nftTables(t testing.TB, ns string) string {
	args := []string{"nft", "list", "tables"}
	if ns != "" {
		args = append([]string{"ip", "netns", "exec", ns}, args...)
	}
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %v: %s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// InNetns runs fn on an OS thread switched into the named namespace. The
// thread is never switched back: it stays locked and dies with the
// goroutine, so no other goroutine ever runs in the wrong namespace.
// Sockets fn creates stay in that namespace wherever they are used later.
func InNetns(ns string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		f, err := os.Open(filepath.Join("/run/netns", ns))
		if err != nil {
			errc <- err
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("setns %s: %w", ns, err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}

func (l *Lab) startEcho() {
	var lns []net.Listener
	err := InNetns(l.NS, func() error {
		for _, a := range []netip.Addr{Victim4, Victim6} {
			ln, err := net.Listen("tcp", netip.AddrPortFrom(a, Port).String())
			if err != nil {
				return err
			}
			lns = append(lns, ln)
		}
		return nil
	})
	if err != nil {
		l.t.Fatalf("echo server: %v", err)
	}
	ServeEcho(l.t, lns...)
}

// Dial opens a TCP connection from src in the attacker namespace to the
// victim's echo server.
func (l *Lab) Dial(src netip.Addr, timeout time.Duration) (net.Conn, error) {
	dst := Victim4
	if src.Is6() {
		dst = Victim6
	}
	var c net.Conn
	err := InNetns(l.Att, func() error {
		d := net.Dialer{Timeout: timeout, LocalAddr: &net.TCPAddr{IP: src.AsSlice()}}
		var err error
		c, err = d.Dial("tcp", netip.AddrPortFrom(dst, Port).String())
		return err
	})
	return c, err
}

// Echo sends a line on c and waits (bounded) for it to come back.
func Echo(c net.Conn, timeout time.Duration) error {
	_ = c.SetDeadline(time.Now().Add(timeout))
	if _, err := c.Write([]byte("synguard\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if line != "synguard\n" {
		return fmt.Errorf("echo returned %q", line)
	}
	return nil
}

// Reach reports nil when a new connection from src gets its echo back.
func (l *Lab) Reach(src netip.Addr) error {
	c, err := l.Dial(src, 1500*time.Millisecond)
	if err != nil {
		return err
	}
	defer c.Close()
	return Echo(c, 1500*time.Millisecond)
}

// WaitReach waits until a new connection from src gets its echo back.
func (l *Lab) WaitReach(src netip.Addr, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		err := l.Reach(src)
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// WaitBlocked waits until new connections from src time out (a drop).
func (l *Lab) WaitBlocked(src netip.Addr, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		err := l.Reach(src)
		if err != nil && IsTimeout(err) {
			return nil
		}
		if time.Now().After(deadline) {
			if err == nil {
				return errors.New("still connects")
			}
			return fmt.Errorf("fails other than by a drop: %w", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// IsTimeout reports whether err is a network timeout, as a drop causes.
func IsTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// ServeEcho answers every line a client sends on each of lns with the same
// line, until the test ends: the lab's victims' echo servers, which tell a
// connection that really goes through from one a firewall drops.
func ServeEcho(t testing.TB, lns ...net.Listener) {
	for _, ln := range lns {
		t.Cleanup(func() { ln.Close() })
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go func() {
					defer c.Close()
					r := bufio.NewReader(c)
					for {
						line, err := r.ReadString('\n')
						if err != nil {
							return
						}
						if _, err := c.Write([]byte(line)); err != nil {
							return
						}
					}
				}()
			}
		}()
	}
}
