package nftables_test

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/synguard/synguard/internal/firewall"
	"github.com/synguard/synguard/internal/nftables"
)

// TestBenchHelper is test/bench/backends.sh's hands inside its lab, and
// runs only when it sets SGN_BENCH (skipped otherwise: it is no test):
//
//	SGN_BENCH=block PREFIX   the nftables backend blocks PREFIX in the
//	                         namespace it runs in, and exits (the block is
//	                         the kernel's; purge lifts it)
//	SGN_BENCH=purge          the backend deletes its table
//	SGN_BENCH=connect SRC DST:PORT N
//	                         N connections from SRC, each within 1s; prints
//	                         "ok N" or "fail I: reason"
func TestBenchHelper(t *testing.T) {
	mode := os.Getenv("SGN_BENCH")
	if mode == "" {
		t.Skip("test/bench/backends.sh's helper; runs only with SGN_BENCH set")
	}
	args := strings.Fields(os.Getenv("SGN_BENCH_ARGS"))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b, err := nftables.New(nftables.DefaultConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	switch mode {
	case "block":
		if err := b.Prepare(ctx, nil); err != nil {
			t.Fatal(err)
		}
		rs, err := b.Add(ctx, []firewall.Entry{{Prefix: netip.MustParsePrefix(args[0]), Expiry: time.Now().Add(time.Hour)}})
		if err != nil || len(firewall.Failed(rs)) > 0 {
			t.Fatalf("Add %s: %v %v", args[0], rs, err)
		}
	case "purge":
		if err := b.Purge(ctx, nil); err != nil {
			t.Fatal(err)
		}
	case "connect":
		var n int
		fmt.Sscan(args[2], &n)
		d := net.Dialer{Timeout: time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(args[0])}}
		for i := 0; i < n; i++ {
			c, err := d.Dial("tcp", args[1])
			if err != nil {
				fmt.Printf("fail %d: %v\n", i, err)
				return
			}
			c.Close()
			time.Sleep(200 * time.Millisecond)
		}
		fmt.Printf("ok %d\n", n)
	default:
		t.Fatalf("SGN_BENCH=%q: want block, purge or connect", mode)
	}
}
