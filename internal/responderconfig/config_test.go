package responderconfig

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/synguard/synguard/internal/firewalld"
	"github.com/synguard/synguard/internal/nftables"
)

func TestExampleIsDefault(t *testing.T) {
	c, err := Load("../../examples/responder.yml")
	if err != nil {
		t.Fatal(err)
	}
	d, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c, d) {
		t.Fatalf("examples/responder.yml differs from the defaults:\n%+v\n%+v", c, d)
	}
	if err := func() error { p := c.PolicyConfig(); return p.Validate() }(); err != nil {
		t.Fatal(err)
	}
}

func TestBad(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, nil, 0o600)
	tests := []struct{ name, yaml, want string }{
		{"unknown key", "policy:\n  max_active: 3\n", ":2: field max_active not found"},
		{"slash 8", "policy:\n  min_prefix_length:\n    ipv4: 8\n    ipv6: 48\n", ":1: policy: minimum prefix length must be at least /9"},
		{"bad duration", "policy:\n  block_duration:\n    base: soon\n", `:3: "soon" is not a duration`},
		{"max below base", "\npolicy:\n  block_duration:\n    base: 2h\n    max: 1h\n", ":2: policy: block duration must be positive and at most the maximum"},
		{"bad allowlist", "policy:\n  allowlist:\n    - 192.0.2.0/24\n    - nope\n", `:4: parse prefix "nope"`},
		{"old section", "firewalld:\n  mode: zone\n", ":1: field firewalld not found"},
		{"unknown backend", "firewall:\n  backend: iptables\n", `:2: firewall.backend "iptables" is not a known backend (known: firewalld, nftables)`},
		{"unknown nftables key", "firewall:\n  nftables:\n    tabel: x\n", ":3: field tabel not found in type nftables"},
		{"bad table", "firewall:\n  backend: nftables\n  nftables:\n    table: \"syn guard\"\n", `:4: nftables.table: invalid table name "syn guard"`},
		{"short grace", "firewall:\n  nftables:\n    timeout_grace: 10s\n", ":3: nftables.timeout_grace: 10s: at least 1m"},
		{"unknown firewall key", "firewall:\n  mode: zone\n", ":2: field mode not found in type firewall"},
		{"short interval", "firewall:\n  reconcile_interval: 500ms\n", ":2: firewall.reconcile_interval must be at least 1s"},
		{"bad mode", "firewall:\n  firewalld:\n    mode: iptables\n", `:3: firewalld.mode: unknown mode "iptables"`},
		{"unknown firewalld key", "firewall:\n  firewalld:\n    modes: zone\n", ":3: field modes not found in type firewalld"},
		{"empty zone", "firewall:\n  firewalld:\n    zone: \"\"\n", ":3: firewalld.zone: must not be empty"},
		{"same sets", "firewall:\n  firewalld:\n    ipset_ipv4: synguard6\n", ":3: firewalld.ipset_ipv6: the IPv4 and IPv6 ipsets need different names"},
		{"cap over maxelem", "policy:\n  max_active_blocks: 70000\n", ":2: policy.max_active_blocks 70000 exceeds"},
		{"bad regexp", "alerts:\n  match_re:\n    alertname: \"(\"\n", ":3: bad regular expression"},
		{"bad host label", "alerts:\n  host_label: \"no-de\"\n", `:2: alerts.host_label "no-de" is not a label name`},
		{"empty token", "webhook:\n  bearer_token_file: " + empty + "\n", "is empty"},
		{"missing token", "api:\n  bearer_token_file: /nonexistent/token\n", ":2: read bearer token"},
		{"zero rate", "policy:\n  rate_limit:\n    blocks_per_minute: 0\n", ":1: policy: rate limit must be positive"},
		{"widen one", "policy:\n  widen:\n    min_blocks: 1\n", ":1: policy: widen: min_blocks must be 0 (off) or at least 2"},
		{"widen too broad", "policy:\n  widen:\n    min_blocks: 8\n    ipv4: 16\n", ":1: policy: widen: ipv4 /16 and ipv6 /48 must be no broader than the minimum prefix length"},
		{"widen unknown key", "policy:\n  widen:\n    k: 8\n", ":3: field k not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "_")+".yml")
			os.WriteFile(path, []byte(tt.yaml), 0o600)
			_, err := Load(path)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want %q", err, tt.want)
			}
			if !strings.HasPrefix(err.Error(), path+":") {
				t.Fatalf("error does not start with the file name: %v", err)
			}
		})
	}
}

func TestMatchReplacesDefault(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.yml")
	os.WriteFile(path, []byte("alerts:\n  match:\n    severity: critical\n  match_re:\n    alertname: SynFlood.*\n"), 0o600)
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	p := c.PolicyConfig()
	if len(p.Match) != 1 || p.Match["severity"] != "critical" || !p.MatchRE["alertname"].MatchString("SynFloodPrefix") || p.MatchRE["alertname"].MatchString("xSynFlood") {
		t.Fatalf("matchers: %v %v", p.Match, p.MatchRE)
	}
}

func TestFirewallSection(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.yml")
	os.WriteFile(path, []byte("firewall:\n  keep_connections: true\n  conntrack_netns: /run/netns/lab\n  reconcile_interval: 5s\n  firewalld:\n    mode: zone\n    permanent: true\n"), 0o600)
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	f := c.Firewall
	if f.Backend != BackendFirewalld || !f.KeepConnections || f.ConntrackNetns != "/run/netns/lab" || f.ReconcileInterval.Std() != 5*time.Second {
		t.Errorf("shared settings: %+v", f)
	}
	// Keys left out keep the backend's defaults.
	if fw := f.Firewalld; fw.Mode != firewalld.ModeZone || !fw.Permanent || fw.Zone != "drop" || !fw.AllowReload || fw.IPSet4 != "synguard4" {
		t.Errorf("firewalld settings: %+v", fw)
	}
	if f.Capacity() != 0 {
		t.Errorf("zone mode capacity %d, want 0", f.Capacity())
	}
}

func TestNftablesSection(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.yml")
	os.WriteFile(path, []byte("firewall:\n  backend: nftables\n  nftables:\n    timeout_grace: 1h\n  firewalld:\n    mode: zone\n"), 0o600)
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	f := c.Firewall
	if f.Backend != BackendNftables || f.Nftables.TimeoutGrace.Std() != time.Hour || f.Nftables.Table != nftables.DefaultTable {
		t.Errorf("nftables settings: %+v", f)
	}
	// Interval sets have no limit of synguard's, whatever firewalld's says.
	if f.Capacity() != 0 {
		t.Errorf("nftables capacity %d, want 0", f.Capacity())
	}
	if d := Default().Firewall.Nftables; d != nftables.DefaultConfig() {
		t.Errorf("default nftables section %+v", d)
	}
}

// TestWiden: policy.widen reaches the policy; off by default.
func TestWiden(t *testing.T) {
	d := Default().PolicyConfig()
	if d.Widening.MinBlocks != 0 || d.Widening.Length.IPv4 != 24 || d.Widening.Length.IPv6 != 48 {
		t.Fatalf("default widening %+v, want off with /24 and /48", d.Widening)
	}
	path := filepath.Join(t.TempDir(), "responder.yml")
	os.WriteFile(path, []byte("policy:\n  widen:\n    min_blocks: 8\n    ipv4: 26\n    ipv6: 56\n"), 0o600)
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if w := c.PolicyConfig().Widening; w.MinBlocks != 8 || w.Length.IPv4 != 26 || w.Length.IPv6 != 56 {
		t.Fatalf("widening %+v", w)
	}
}
