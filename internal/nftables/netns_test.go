package nftables_test

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/synguard/synguard/internal/firewall/firewalltest"
	"github.com/synguard/synguard/internal/lab"
)

var nsSeq atomic.Int32

// rootTables is the root namespace's `nft list tables`, which no test may
// change.
func rootTables(t testing.TB) string {
	t.Helper()
	out, err := exec.Command("nft", "list", "tables").CombinedOutput()
	if err != nil {
		t.Fatalf("nft list tables: %v: %s", err, out)
	}
	return strings.TrimSpace(string(out))
}

// newNetns makes a fresh network namespace sgn-PID-N for t, deleted at
// cleanup, which also checks that the root namespace's tables stayed as
// they were.
func newNetns(t testing.TB) string {
	t.Helper()
	lab.Need(t, "changes nftables inside a network namespace of its own", "ip", "nft")
	before := rootTables(t)
	name := fmt.Sprintf("sgn-%d-%d", os.Getpid(), nsSeq.Add(1))
	run(t, "ip", "netns", "add", name)
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v: %s", name, err, out)
		}
		if after := rootTables(t); after != before {
			t.Errorf("the root namespace's nft tables changed: %q -> %q", before, after)
		}
	})
	run(t, "ip", "-n", name, "link", "set", "lo", "up")
	return name
}

func run(t testing.TB, args ...string) string {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// nftIn runs nft in ns with script on its standard input.
func nftIn(ns, script string) (string, error) {
	cmd := exec.Command("ip", "netns", "exec", ns, "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(script)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("nft -f - <<%q: %v: %s", script, err, out)
	}
	return string(out), nil
}

// nftUnder plays the operator and the system around the backend with the
// nft tool, inside the test's namespace.
type nftUnder struct{ ns string }

func setFor(p netip.Prefix) (string, string) {
	if p.Addr().Is4() {
		return "drop4", "ipv4_addr"
	}
	return "drop6", "ipv6_addr"
}

// AddForeign puts p in a table of the operator's own, beside synguard's.
func (u nftUnder) AddForeign(p netip.Prefix) error {
	set, typ := setFor(p)
	_, err := nftIn(u.ns, fmt.Sprintf(`table inet operator {
	set %s { type %s; flags interval; elements = { %s } }
	chain input { type filter hook input priority 10; ip saddr @drop4 drop; }
	set drop4 { type ipv4_addr; flags interval; }
}
`, set, typ, p))
	return err
}

func (u nftUnder) HasForeign(p netip.Prefix) (bool, error) {
	set, _ := setFor(p)
	out, err := exec.Command("ip", "netns", "exec", u.ns, "nft", "get", "element", "inet", "operator", set, "{", p.String(), "}").CombinedOutput()
	if err != nil {
		if strings.Contains(string(out), "No such file") || strings.Contains(string(out), "not found") {
			return false, nil
		}
		return false, fmt.Errorf("nft get element: %v: %s", err, out)
	}
	return strings.Contains(string(out), p.String()), nil
}

// Reload is what nft flush ruleset (and the flush half of systemctl
// restart nftables) does to synguard's table.
func (u nftUnder) Reload() error {
	_, err := nftIn(u.ns, "flush ruleset\n")
	return err
}

func (u nftUnder) Restart() error {
	return fmt.Errorf("%w: plain nftables has no daemon of its own: a restart of nftables.service is a flush and a load, the Reload case", firewalltest.ErrCannot)
}

func (u nftUnder) Stop() error {
	return fmt.Errorf("%w: the kernel's netlink interface cannot be made unreachable", firewalltest.ErrCannot)
}

func (u nftUnder) Start() error { return u.Stop() }

func (u nftUnder) Refuse(p netip.Prefix) error {
	return fmt.Errorf("%w: the kernel refuses no valid element of a set of synguard's own", firewalltest.ErrCannot)
}
