package nftables_test

import (
	"testing"
	"time"

	"github.com/synguard/synguard/internal/firewall/firewalltest"
	"github.com/synguard/synguard/internal/nftables"
)

// newBackend is a Backend on synguard's table in ns.
func newBackend(t testing.TB, ns string) *nftables.Backend {
	t.Helper()
	cfg := nftables.DefaultConfig()
	cfg.Netns = "/run/netns/" + ns
	b, err := nftables.New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// TestContract runs the backend contract on the real kernel, each case in a
// fresh network namespace. The operator's own entries live in a table of
// their own (inet operator), which synguard must never touch.
func TestContract(t *testing.T) {
	t.Run("kernel", func(t *testing.T) {
		firewalltest.Run(t, func(t *testing.T) firewalltest.Setup {
			ns := newNetns(t)
			b := newBackend(t, ns)
			return firewalltest.Setup{Backend: b, Under: nftUnder{ns}, TakesForeign: true, Expiry: b.Expiry, Within: 10 * time.Second}
		})
	})
}
