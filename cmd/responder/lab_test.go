package main

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

// The lab: a real firewalld (test/lab/firewalld.sh) in a victim network
// namespace on a private bus, and an attacker namespace joined to it by a
// veth pair, with no route anywhere else.
//
//	victim   sgrv0 198.51.100.1/24    2001:db8:5::1/48      echo server :8080
//	attacker sgra0 198.51.100.33/24   2001:db8:5:1::33/48   inside the blocked /27 and /64
//	               198.51.100.100/24  2001:db8:5:2::100/48  control, outside them
var (
	victim4   = netip.MustParseAddr("198.51.100.1")
	victim6   = netip.MustParseAddr("2001:db8:5::1")
	attacker4 = netip.MustParseAddr("198.51.100.33")
	attacker6 = netip.MustParseAddr("2001:db8:5:1::33")
	control4  = netip.MustParseAddr("198.51.100.100")
	control6  = netip.MustParseAddr("2001:db8:5:2::100")
)

const labPort = 8080

var labSeq atomic.Int32

type lab struct {
	t       *testing.T
	ns, att string
	state   string
	script  string
	busAddr string
}

// needRoot skips a test that needs root and the lab's tools, saying which.
func needRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: runs a real firewalld in its own network namespace (CI runs as root)")
	}
	for _, bin := range []string{"firewalld", "firewall-cmd", "dbus-daemon", "ip", "nft", "unshare", "nsenter"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("needs %s (Debian packages firewalld, dbus, iproute2, nftables)", bin)
		}
	}
}

// startLab brings up firewalld in a fresh victim namespace, the attacker
// namespace and an echo server; cleanup tears all of it down by recorded
// PIDs and checks the root namespace's firewall stayed as it was.
func startLab(t *testing.T) *lab {
	t.Helper()
	needRoot(t)
	rootTables := nftTables(t)
	name := fmt.Sprintf("sgr-%d-%d", os.Getpid(), labSeq.Add(1))
	l := &lab{t: t, ns: name, att: name + "a", state: filepath.Join(os.TempDir(), name)}
	var err error
	if l.script, err = filepath.Abs("../../test/lab/firewalld.sh"); err != nil {
		t.Fatal(err)
	}
	l.busAddr = "unix:path=" + filepath.Join(l.state, "bus.sock")
	t.Cleanup(func() {
		if out, err := l.fwOut("fw_down"); err != nil {
			t.Errorf("fw_down: %v: %s", err, out)
		}
		_ = exec.Command("ip", "netns", "del", l.att).Run()
		if got := nftTables(t); got != rootTables {
			t.Errorf("the root namespace's nft tables changed: %q -> %q", rootTables, got)
		}
		if !t.Failed() {
			_ = os.RemoveAll(l.state)
		}
	})
	l.fw("fw_up")
	sh := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	sh("ip", "netns", "add", l.att)
	sh("ip", "-n", l.att, "link", "set", "lo", "up")
	sh("ip", "-n", l.ns, "link", "add", "sgrv0", "type", "veth", "peer", "name", "sgra0", "netns", l.att)
	sh("ip", "-n", l.ns, "addr", "add", victim4.String()+"/24", "dev", "sgrv0")
	sh("ip", "-n", l.ns, "addr", "add", victim6.String()+"/48", "dev", "sgrv0", "nodad")
	sh("ip", "-n", l.ns, "link", "set", "sgrv0", "up")
	for _, a := range []string{attacker4.String() + "/24", control4.String() + "/24"} {
		sh("ip", "-n", l.att, "addr", "add", a, "dev", "sgra0")
	}
	for _, a := range []string{attacker6.String() + "/48", control6.String() + "/48"} {
		sh("ip", "-n", l.att, "addr", "add", a, "dev", "sgra0", "nodad")
	}
	sh("ip", "-n", l.att, "link", "set", "sgra0", "up")
	// The port is open in the zone the interface falls into (public), runtime
	// and permanent, so only the drop zone can stop it.
	l.fw("fw_cmd", "--permanent", "--zone=public", fmt.Sprintf("--add-port=%d/tcp", labPort))
	l.fw("fw_cmd", "--zone=public", fmt.Sprintf("--add-port=%d/tcp", labPort))
	l.startEcho()
	for _, src := range []netip.Addr{attacker4, control4, attacker6, control6} {
		if err := l.waitReach(src, 10*time.Second); err != nil {
			t.Fatalf("lab: %v cannot reach the victim before any block: %v", src, err)
		}
	}
	return l
}

func (l *lab) fwOut(fn string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	argv := append([]string{"-c", `. "$0" && "$@"`, l.script, fn}, args...)
	cmd := exec.CommandContext(ctx, "bash", argv...)
	cmd.Env = append(os.Environ(), "FW_NS="+l.ns, "FW_STATE="+l.state)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (l *lab) fw(fn string, args ...string) string {
	l.t.Helper()
	out, err := l.fwOut(fn, args...)
	if err != nil {
		l.t.Fatalf("%s %s: %v\n%s", fn, strings.Join(args, " "), err, out)
	}
	return out
}

func nftTables(t *testing.T) string {
	out, err := exec.Command("nft", "list", "tables").CombinedOutput()
	if err != nil {
		t.Fatalf("nft list tables: %v: %s", err, out)
	}
	return strings.TrimSpace(string(out))
}

// inNetns runs fn on an OS thread switched into the named namespace; the
// thread stays locked and dies with its goroutine.
func inNetns(ns string, fn func() error) error {
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

func (l *lab) startEcho() {
	var lns []net.Listener
	err := inNetns(l.ns, func() error {
		for _, a := range []netip.Addr{victim4, victim6} {
			ln, err := net.Listen("tcp", netip.AddrPortFrom(a, labPort).String())
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
	for _, ln := range lns {
		l.t.Cleanup(func() { ln.Close() })
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

func (l *lab) dial(src netip.Addr, timeout time.Duration) (net.Conn, error) {
	dst := victim4
	if src.Is6() {
		dst = victim6
	}
	var c net.Conn
	err := inNetns(l.att, func() error {
		d := net.Dialer{Timeout: timeout, LocalAddr: &net.TCPAddr{IP: src.AsSlice()}}
		var err error
		c, err = d.Dial("tcp", netip.AddrPortFrom(dst, labPort).String())
		return err
	})
	return c, err
}

func echo(c net.Conn, timeout time.Duration) error {
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

func (l *lab) reach(src netip.Addr) error {
	c, err := l.dial(src, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	return echo(c, time.Second)
}

func (l *lab) waitReach(src netip.Addr, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		err := l.reach(src)
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitBlocked waits until new connections from src time out.
func (l *lab) waitBlocked(src netip.Addr, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		err := l.reach(src)
		if err != nil && isTimeout(err) {
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

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
