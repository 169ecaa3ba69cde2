package main

import (
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/synguard/synguard/internal/daemontest"
	"github.com/synguard/synguard/internal/firewalld/firewalldtest"
	"github.com/synguard/synguard/internal/origin/origintest"
)

// TestOriginPolicy covers issue 7's responder side with small databases the
// test writes: a prefix from a never-block country is refused and counted
// by reason, a foreign one is blocked and its origin recorded in the state
// and shown by /api/v1/blocks and the status page.
func TestOriginPolicy(t *testing.T) {
	fake, addr := firewalldtest.Start(t)
	asn, country, err := origintest.Fixtures(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cfg := writeConfig(t, "origin:\n  asn_database: "+asn+"\n  country_database: "+country+"\n")
	// policy.origin goes inside the policy section writeConfig wrote.
	withPolicy := strings.Replace(readFile(t, cfg), "policy:\n", "policy:\n  origin:\n    never_block_countries: [de]\n", 1)
	writeFile(t, cfg, withPolicy)
	r := startResponder(t, "--dbus.address="+addr, "--config.file="+cfg)
	waitFor(t, "backend_up", func() bool {
		return metricLine(r.metrics(t), "synguard_responder_backend_up{backend=\"firewalld\",mode=\"ipset\"} 1")
	})

	// 198.51.100.0/24 is the operator's upstream in DE (see origintest).
	code, body := r.post(t, notification("firing", block("198.51.100.32/27"), block("203.0.113.32/27")))
	if code != 200 || !strings.Contains(body, `"blocked":1`) {
		t.Fatalf("webhook: %d %s", code, body)
	}
	waitFor(t, "block applied", func() bool {
		e, _ := fake.RuntimeEntries("synguard4")
		return slices.Equal(e, []string{"203.0.113.32/27"})
	})
	if m := r.metrics(t); !metricLine(m, `synguard_responder_refused_total{reason="origin_country_protected"} 1`) {
		t.Errorf("origin refusal not counted:\n%s", m)
	}
	_, list := r.do(t, "GET", "/api/v1/blocks", "", "")
	for _, want := range []string{`"prefix": "203.0.113.32/27"`, `"asn": 64496`, `"as_org": "Example Flood Net"`, `"country": "ZZ"`} {
		if !strings.Contains(list, want) {
			t.Errorf("/api/v1/blocks lacks %s:\n%s", want, list)
		}
	}
	if strings.Contains(list, "198.51.100.32/27") {
		t.Errorf("protected-country prefix was blocked:\n%s", list)
	}
	if _, status := r.do(t, "GET", "/status.json", "", ""); !strings.Contains(status, "AS64496 Example Flood Net, ZZ") {
		t.Errorf("status page lacks the origin:\n%s", status)
	}
	// An operator's own request is the operator's judgement: origin
	// policy does not apply to it, and the origin is still recorded.
	if code, body := r.change(t, "POST", "/api/v1/blocks", `{"prefix":"198.51.100.64/27"}`); code != 201 || !strings.Contains(body, `"country": "DE"`) {
		t.Errorf("operator block in a protected country: %d %s", code, body)
	}
}

// TestOriginPolicyNeedsDatabase: an origin policy without the database it
// needs refuses to start, naming the line.
func TestOriginPolicyNeedsDatabase(t *testing.T) {
	cfg := writeConfig(t, "")
	writeFile(t, cfg, strings.Replace(readFile(t, cfg), "policy:\n", "policy:\n  origin:\n    only_block_countries: [ZZ]\n", 1))
	stdout, stderr := &daemontest.Buffer{}, &daemontest.Buffer{}
	m := NewMain(stdout, stderr)
	if code := m.Main(t.Context(), []string{"--config.check", "--config.file=" + cfg}); code == 0 {
		t.Fatal("config check passed an origin policy without databases")
	}
	if !strings.Contains(stderr.String(), cfg+":11: policy.origin") {
		t.Errorf("error does not name file:line:\n%s", stderr)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func writeFile(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}
