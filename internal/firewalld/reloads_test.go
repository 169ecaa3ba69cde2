package firewalld_test

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/synguard/synguard/internal/firewalld"
	"github.com/synguard/synguard/internal/firewalld/firewalldtest"
)

// TestReloadsBounded: a firewalld whose reloads never load synguard's
// ipsets (firewalld 0.9.3 without the ipset package, measured on Debian 11)
// is reloaded once, not at every retry; the error says what is wrong; a
// restarted firewalld gets one more chance; every reload is counted.
func TestReloadsBounded(t *testing.T) {
	fake, addr := firewalldtest.Start(t)
	fake.NoIPSetLoad(true)
	c := clientOn(t, addr, firewalld.DefaultConfig())
	reg := prometheus.NewRegistry()
	reg.MustRegister(c.Collector())
	if err := c.Prepare(ctx(t), nil); err == nil || !strings.Contains(err.Error(), "still not in firewalld's runtime") {
		t.Fatalf("first Prepare: %v", err)
	}
	for range 5 {
		if err := c.Prepare(ctx(t), nil); err == nil || !strings.Contains(err.Error(), "reloaded once already") || !strings.Contains(err.Error(), "ipset package") {
			t.Fatalf("retried Prepare: %v", err)
		}
	}
	if n := fake.Calls("reload"); n != 1 {
		t.Fatalf("%d reloads over six tries, want 1", n)
	}
	fake.Restart()
	_ = c.Prepare(ctx(t), nil)
	if n := fake.Calls("reload"); n != 2 {
		t.Fatalf("%d reloads after a restart, want one more", n)
	}
	fake.NoIPSetLoad(false)
	fake.Restart()
	if err := c.Prepare(ctx(t), nil); err != nil {
		t.Fatalf("a firewalld that loads the sets: %v", err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var got float64
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			if mf.GetName() == "synguard_responder_firewalld_reloads_total" && label(m, "cause") == firewalld.ReloadIPSets {
				got = m.GetCounter().GetValue()
			}
		}
	}
	if got != float64(fake.Calls("reload")) {
		t.Fatalf("reloads_total{cause=load_ipsets} = %v, firewalld saw %d", got, fake.Calls("reload"))
	}
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}
