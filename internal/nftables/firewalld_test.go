package nftables_test

import (
	"context"
	"net/netip"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/synguard/synguard/internal/firewall"
	"github.com/synguard/synguard/internal/lab"
)

// TestBesideFirewalld: on a host that runs firewalld too (a real one, in
// the lab's namespace), firewalld's reload and restart leave table inet
// synguard and its blocks alone, and synguard's changes leave firewalld's
// table alone.
func TestBesideFirewalld(t *testing.T) {
	l := lab.Start(t, "sgn", "../../test/lab/firewalld.sh")
	nftList := func(args ...string) string {
		t.Helper()
		out, err := exec.Command("ip", append([]string{"netns", "exec", l.NS, "nft", "list"}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("nft list %s: %v: %s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	// Counters and timeouts tick; the rest must stay as it was.
	volatile := regexp.MustCompile(`counter packets \d+ bytes \d+|expires \S+`)
	firewalldTable := func() string { return volatile.ReplaceAllString(nftList("table", "inet", "firewalld"), "") }
	before := firewalldTable()
	b := newBackend(t, l.NS)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := b.Prepare(ctx, nil); err != nil {
		t.Fatal(err)
	}
	evs := make(chan firewall.Event, 16)
	wctx, wcancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- b.Watch(wctx, func(ev firewall.Event) { evs <- ev }) }()
	defer func() { wcancel(); <-done }()
	if _, err := b.Add(ctx, []firewall.Entry{{Prefix: lab.Block4, Expiry: time.Now().Add(time.Hour)}, {Prefix: lab.Block6}}); err != nil {
		t.Fatal(err)
	}
	if err := l.WaitBlocked(lab.Attacker4, 5*time.Second); err != nil {
		t.Errorf("attacker with firewalld beside: %v", err)
	}
	if err := l.Reach(lab.Control4); err != nil {
		t.Errorf("control with firewalld beside: %v", err)
	}
	if got := firewalldTable(); got != before {
		t.Errorf("synguard's Add changed firewalld's table:\n%s\n->\n%s", before, got)
	}
	synguardTable := func() string { return volatile.ReplaceAllString(nftList("table", "inet", "synguard"), "") }
	ours := synguardTable()
	for _, step := range []string{"fw_reload", "fw_restart"} {
		l.Fw(step)
		if got := synguardTable(); got != ours {
			t.Errorf("%s changed table inet synguard:\n%s\n->\n%s", step, ours, got)
		}
		if err := l.WaitBlocked(lab.Attacker4, 5*time.Second); err != nil {
			t.Errorf("attacker after %s: %v", step, err)
		}
		if err := l.WaitReach(lab.Control4, 10*time.Second); err != nil {
			t.Errorf("control after %s: %v", step, err)
		}
	}
	select {
	case ev := <-evs:
		t.Errorf("firewalld's reload or restart was taken for a change of synguard's table: %+v", ev)
	default:
	}
	after := firewalldTable()
	if _, err := b.Remove(ctx, []netip.Prefix{lab.Block6}); err != nil {
		t.Fatal(err)
	}
	if err := b.Purge(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if got := firewalldTable(); got != after {
		t.Errorf("synguard's Purge changed firewalld's table:\n%s\n->\n%s", after, got)
	}
	if err := l.WaitReach(lab.Attacker4, 5*time.Second); err != nil {
		t.Errorf("attacker after Purge: %v", err)
	}
}
