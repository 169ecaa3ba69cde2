package firewalld_test

import (
	"context"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/synguard/synguard/internal/firewall"
	"github.com/synguard/synguard/internal/firewalld"
)

// TestRealUnblockRightAfterCrash is the responder's sequence in zone mode
// against the real firewalld, as fast as it goes: a block, firewalld
// SIGKILLed and started again, the block restored by a Sync on every event
// (the reconcile loop) and lifted by the first call after firewalld runs
// (an operator's unblock); the range must then really get through. A
// crash leaves the source's nftables rules in the kernel, which only a
// reload after the new firewalld's own start clears. It passed 15 rounds
// in a row beside two busy loops on two cores: the client and firewalld's
// start are not what issue 12's crash check tripped on (see
// test/soak TestUnblockDuringRestoreAfterCrash). SYNGUARD_CRASH_ROUNDS
// sets the rounds (3).
func TestRealUnblockRightAfterCrash(t *testing.T) {
	rounds := 3
	if s := os.Getenv("SYNGUARD_CRASH_ROUNDS"); s != "" {
		rounds, _ = strconv.Atoi(s)
	}
	l := startLab(t)
	c := l.client(firewalld.Config{Mode: firewalld.ModeZone, AllowReload: true})
	p := []netip.Prefix{block4}
	wctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	desired := make(chan []netip.Prefix, 1)
	desired <- p
	go func() {
		_ = c.Watch(wctx, func(firewall.Event) {
			d := <-desired
			desired <- d
			_, _ = c.Sync(wctx, ents(d), d)
		})
	}()
	time.Sleep(200 * time.Millisecond)
	for i := range rounds {
		<-desired
		desired <- p
		add(t, c, p)
		if err := l.WaitBlocked(attacker4, 5*time.Second); err != nil {
			t.Fatalf("round %d: block: %v", i, err)
		}
		l.fw("fw_crash_restart")
		<-desired
		desired <- nil
		remove(t, c, p)
		if err := l.WaitReach(attacker4, 10*time.Second); err != nil {
			out, _ := exec.Command("ip", "netns", "exec", l.ns, "nft", "list", "chain", "inet", "firewalld", "filter_INPUT_ZONES").CombinedOutput()
			log, _ := os.ReadFile(l.state + "/firewalld.log")
			t.Fatalf("round %d: after a crash and an unblock %v cannot connect: %v\nnft filter_INPUT_ZONES:\n%s\nfirewalld.log:\n%s", i, attacker4, err, out, log)
		}
	}
}
