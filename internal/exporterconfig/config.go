package exporterconfig

import (
	"gopkg.in/yaml.v3"

	"github.com/synguard/synguard/internal/configfile"
	"github.com/synguard/synguard/internal/origin"
	"github.com/synguard/synguard/internal/prefix"
	"github.com/synguard/synguard/internal/probe"
	"github.com/synguard/synguard/internal/synrecv"
)

// MaxTopN bounds top_n: each prefix is a series, and Prometheus pays for
// every one.
const MaxTopN = 1000

// Config is the exporter's configuration file. Each section belongs to one
// collector; a new collector adds its own section here.
type Config struct {
	SynRecv SynRecv `yaml:"syn_recv"`
	// Probes lists the services to probe in the background and the modules
	// that say how (see internal/probe).
	Probes probe.Config `yaml:"probes"`
	// Origin names the optional AS and country databases that label each
	// flooding prefix with who it belongs to (see internal/origin).
	Origin origin.Config `yaml:"origin"`
}

// SynRecv configures the SYN_RECV collector.
type SynRecv struct {
	// PrefixLengths groups sources by these lengths (default /27 and /64).
	PrefixLengths prefix.Lengths `yaml:"prefix_lengths"`
	// TopN prefixes per family get their own series (default 20).
	TopN int `yaml:"top_n"`
	// Allowlist holds sources never counted as attackers.
	Allowlist prefix.List `yaml:"allowlist"`
	// Ports, when set, limits counting to SYN_RECV sockets on these local ports.
	Ports []Port `yaml:"ports"`
}

// Default returns the configuration used without a file.
func Default() *Config {
	return &Config{SynRecv: SynRecv{PrefixLengths: prefix.DefaultLengths, TopN: 20}}
}

// Load reads and validates the file at path. An empty path gives Default.
func Load(path string) (*Config, error) {
	c := Default()
	if path == "" {
		return c, nil
	}
	if err := configfile.Load(path, c); err != nil {
		return nil, err
	}
	return c, nil
}

// UnmarshalYAML sets defaults, decodes and validates the section, pointing
// errors at the offending line.
func (s *SynRecv) UnmarshalYAML(n *yaml.Node) error {
	type plain SynRecv
	p := plain(Default().SynRecv)
	if err := configfile.StrictDecode(n, &p, "exporterconfig.SynRecv"); err != nil {
		return err
	}
	if err := p.PrefixLengths.Validate(); err != nil {
		return configfile.Errorf(configfile.Or(configfile.Field(n, "prefix_lengths"), n), "syn_recv.prefix_lengths: %v", err)
	}
	if p.TopN < 1 || p.TopN > MaxTopN {
		return configfile.Errorf(configfile.Or(configfile.Field(n, "top_n"), n), "syn_recv.top_n %d out of range 1..%d", p.TopN, MaxTopN)
	}
	*s = SynRecv(p)
	return nil
}

// Options turns the section into the aggregation options.
func (s SynRecv) Options() synrecv.Options {
	o := synrecv.Options{
		Lengths: s.PrefixLengths,
		TopN:    s.TopN,
		Allow:   prefix.NewSet(s.Allowlist...),
	}
	for _, p := range s.Ports {
		o.Ports = append(o.Ports, uint16(p))
	}
	return o
}

// Port is a TCP port, 1..65535.
type Port uint16

// UnmarshalYAML refuses a port out of range.
func (p *Port) UnmarshalYAML(n *yaml.Node) error {
	var v int
	if err := n.Decode(&v); err != nil {
		return err
	}
	if v < 1 || v > 65535 {
		return configfile.Errorf(n, "port %d out of range 1..65535", v)
	}
	*p = Port(v)
	return nil
}
