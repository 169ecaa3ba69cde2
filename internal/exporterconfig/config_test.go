package exporterconfig

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestLoad(t *testing.T) {
	tests := []struct {
		name, in, wantErr string
		want              func(*Config)
	}{
		{name: "empty file gives defaults", in: ""},
		{name: "full", in: "syn_recv:\n  prefix_lengths: {ipv4: 24, ipv6: 48}\n  top_n: 5\n  allowlist: [192.0.2.7, \"2001:db8:ffff::/48\"]\n  ports: [25, 587]\n",
			want: func(c *Config) {
				c.SynRecv.PrefixLengths.IPv4, c.SynRecv.PrefixLengths.IPv6 = 24, 48
				c.SynRecv.TopN = 5
				c.SynRecv.Ports = []Port{25, 587}
			}},
		{name: "partial keeps defaults", in: "syn_recv:\n  top_n: 3\n", want: func(c *Config) { c.SynRecv.TopN = 3 }},
		{name: "bad top_n", in: "syn_recv:\n  top_n: 0\n", wantErr: "f.yml:2: syn_recv.top_n 0 out of range 1..1000"},
		{name: "bad length", in: "syn_recv:\n  prefix_lengths:\n    ipv4: 33\n", wantErr: "f.yml:3: syn_recv.prefix_lengths: ipv4 prefix length 33 out of range 1..32"},
		{name: "bad allowlist entry", in: "syn_recv:\n  allowlist:\n    - 192.0.2.0/24\n    - 192.0.2.300\n", wantErr: `f.yml:4: parse prefix "192.0.2.300": ParseAddr("192.0.2.300"): IPv4 field has value >255`},
		{name: "bad port", in: "syn_recv:\n  ports: [25, 0]\n", wantErr: "f.yml:2: port 0 out of range 1..65535"},
		{name: "unknown key", in: "syn_recv:\n  topn: 3\n", wantErr: "f.yml:2: field topn not found in type exporterconfig.SynRecv"},
		{name: "unknown key below", in: "syn_recv:\n  prefix_lengths: {ipv4: 24, ipv5: 1}\n", wantErr: "f.yml:2: field ipv5 not found in type Lengths"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "f.yml")
			if err := os.WriteFile(p, []byte(tt.in), 0o600); err != nil {
				t.Fatal(err)
			}
			got, err := Load(p)
			if tt.wantErr != "" {
				want := filepath.Join(filepath.Dir(p), tt.wantErr)
				if err == nil || err.Error() != want {
					t.Fatalf("Load error = %v, want %q", err, want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := Default()
			if tt.want != nil {
				tt.want(want)
			}
			got.SynRecv.Allowlist = nil
			if diff := cmp.Diff(want, got); diff != "" {
				t.Fatalf("unexpected config (-want +got):\n%s", diff)
			}
		})
	}
}

func TestOptions(t *testing.T) {
	c, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	o := c.SynRecv.Options()
	if o.TopN != 20 || o.Lengths.IPv4 != 27 || o.Lengths.IPv6 != 64 || o.Ports != nil {
		t.Fatalf("unexpected default options %+v", o)
	}
}

func TestExampleFile(t *testing.T) {
	if _, err := Load("../../examples/exporter.yml"); err != nil {
		t.Fatalf("examples/exporter.yml: %v", err)
	}
}
