package firewalld_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/synguard/synguard/internal/firewall"
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

// TestPermanentSourceIsTheOperators: in zone mode without permanent
// entries, a drop source in firewalld's permanent config is the operator's
// even when the caller lists it as owned (a responder killed after
// firewalld answered "already there", before it saved that): Sync reports
// it preexisting and never removes it. Found by the fault campaign (seed
// 1796164188745056775, firewalld-zone).
func TestPermanentSourceIsTheOperators(t *testing.T) {
	cfg := firewalld.DefaultConfig()
	cfg.Mode = firewalld.ModeZone
	fake, c := newFake(t, cfg)
	p := pfx("2001:db8:9:5::/64")
	fake.AddPermanentSource("drop", p[0].String())
	fake.AddRuntimeSource("drop", p[0].String())
	res, err := c.Sync(ctx(t), ents(p), p)
	if err != nil {
		t.Fatal(err)
	}
	if got := outcome(res.Results, p[0]); got != firewall.Preexisting {
		t.Fatalf("an operator's permanent source listed as owned: %v, want preexisting", got)
	}
	if _, err := c.Sync(ctx(t), nil, p); err != nil {
		t.Fatal(err)
	}
	if got := fake.RuntimeSources("drop"); !slices.Contains(got, p[0].String()) {
		t.Fatalf("the operator's source was removed: runtime holds %v", got)
	}
}
