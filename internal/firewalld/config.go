package firewalld

import (
	"errors"
	"fmt"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/synguard/synguard/internal/configfile"
)

// Mode selects how prefixes are represented in firewalld.
type Mode string

const (
	// ModeZone makes each prefix a source of the zone, as the runbook's
	// `firewall-cmd --zone=drop --add-source=...` does.
	ModeZone Mode = "zone"
	// ModeIPSet makes each prefix an entry of a hash:net ipset (one per
	// family) that is bound to the zone as a single source.
	ModeIPSet Mode = "ipset"
)

// Defaults for Config fields left empty.
const (
	// DefaultZone is the zone blocks go to: drop answers nothing.
	DefaultZone = "drop"
	// DefaultIPSet4 is the name of the IPv4 ipset in ipset mode.
	DefaultIPSet4 = "synguard4"
	// DefaultIPSet6 is the name of the IPv6 ipset in ipset mode.
	DefaultIPSet6 = "synguard6"
	// DefaultIPSetMaxElem is firewalld's (and the kernel's) default maxelem.
	DefaultIPSetMaxElem = 65536
	// DefaultCallTimeout bounds one D-Bus call when the context has no
	// deadline: a reload of a large config takes seconds, not minutes.
	DefaultCallTimeout = time.Minute
)

// Config is the firewalld backend's settings: the firewall.firewalld
// section of the responder's configuration, and what New needs. Zero
// fields other than Mode get the defaults above.
type Config struct {
	// Mode is ModeIPSet or ModeZone (required; DefaultConfig says ipset).
	Mode Mode `yaml:"mode"`
	// Zone is the zone blocks go to, DefaultZone when empty. The Client never
	// sends an empty zone: firewalld would read it as its default zone.
	Zone string `yaml:"zone"`
	// Permanent also keeps the permanent config in step (as the runbook's
	// --permanent plus a restart ends up): zone sources in zone mode, set
	// entries in ipset mode (the sets and their binding are always
	// permanent). Blocks then survive a firewalld restart even while the
	// responder is down, at the cost of a config file write per change.
	Permanent bool `yaml:"permanent"`
	// IPSet4 and IPSet6 name the hash:net sets of ipset mode.
	IPSet4 string `yaml:"ipset_ipv4"`
	IPSet6 string `yaml:"ipset_ipv6"`
	// IPSetMaxElem is the maxelem of sets the Client creates; raise it above
	// 65536 to hold more blocks.
	IPSetMaxElem int `yaml:"ipset_max_elements"`
	// AllowReload lets the Client ask firewalld to reload, only to load its
	// ipsets the first time and to clear the stale kernel rules a crashed
	// firewalld leaves (zone mode, after a restart). A reload also drops
	// every other tool's runtime-only rules; each one is logged with its
	// reason.
	AllowReload bool `yaml:"allow_reload"`
	// CallTimeout bounds each D-Bus call whose context has no deadline;
	// DefaultCallTimeout when zero. Not in the file: tests shorten it.
	CallTimeout time.Duration `yaml:"-"`
}

// DefaultConfig is the section's defaults, as examples/responder.yml
// writes them: ipset mode in the drop zone, reloads allowed.
func DefaultConfig() Config {
	return Config{
		Mode: ModeIPSet, Zone: DefaultZone, IPSet4: DefaultIPSet4, IPSet6: DefaultIPSet6,
		IPSetMaxElem: DefaultIPSetMaxElem, AllowReload: true,
	}
}

// ConfigError is a mistake in one field of the section; Field is its YAML
// key, so that the caller can point at the line.
type ConfigError struct {
	Field string
	Msg   string
}

// Error implements error.
func (e *ConfigError) Error() string { return e.Field + ": " + e.Msg }

// withDefaults fills the empty fields New fills.
func (c Config) withDefaults() Config {
	if c.Zone == "" {
		c.Zone = DefaultZone
	}
	if c.CallTimeout <= 0 {
		c.CallTimeout = DefaultCallTimeout
	}
	if c.Mode == ModeIPSet {
		if c.IPSet4 == "" {
			c.IPSet4 = DefaultIPSet4
		}
		if c.IPSet6 == "" {
			c.IPSet6 = DefaultIPSet6
		}
		if c.IPSetMaxElem == 0 {
			c.IPSetMaxElem = DefaultIPSetMaxElem
		}
	}
	return c
}

// Validate checks the section as written, before defaults: an empty zone
// or set name in a file is a mistake, not a request for the default.
// Errors are *ConfigError.
func (c Config) Validate() error {
	switch c.Mode {
	case ModeIPSet, ModeZone:
	default:
		return &ConfigError{"mode", fmt.Sprintf("unknown mode %q (want %q or %q)", c.Mode, ModeIPSet, ModeZone)}
	}
	if c.Zone == "" {
		return &ConfigError{"zone", "must not be empty (firewalld would read it as its default zone)"}
	}
	if c.Mode != ModeIPSet {
		return nil
	}
	if c.IPSet4 == c.IPSet6 {
		return &ConfigError{"ipset_ipv6", fmt.Sprintf("the IPv4 and IPv6 ipsets need different names, both are %q", c.IPSet4)}
	}
	for _, f := range []struct{ key, name string }{{"ipset_ipv4", c.IPSet4}, {"ipset_ipv6", c.IPSet6}} {
		if !validIPSetName(f.name) {
			return &ConfigError{f.key, fmt.Sprintf("invalid ipset name %q (letters, digits, - _ . only, 1 to 31)", f.name)}
		}
	}
	if c.IPSetMaxElem < 1 {
		return &ConfigError{"ipset_max_elements", fmt.Sprintf("%d: must be positive", c.IPSetMaxElem)}
	}
	return nil
}

// Capacity is the most entries one family can hold, 0 for no limit of
// synguard's (zone mode): the responder's max_active_blocks must fit.
func (c Config) Capacity() int {
	if c.Mode == ModeIPSet {
		return c.withDefaults().IPSetMaxElem
	}
	return 0
}

// validIPSetName mirrors the kernel's ipset name limit (31 bytes) and keeps
// names plain.
func validIPSetName(n string) bool {
	if n == "" || len(n) > 31 {
		return false
	}
	for _, r := range n {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}

// UnmarshalYAML reads the section over the defaults already in c,
// refusing unknown keys, and validates it, naming the line of the field it
// refuses.
func (c *Config) UnmarshalYAML(n *yaml.Node) error {
	type plain Config
	if err := configfile.StrictDecode(n, (*plain)(c), "firewalld"); err != nil {
		return err
	}
	if err := c.Validate(); err != nil {
		var ce *ConfigError
		if errors.As(err, &ce) {
			return configfile.Errorf(configfile.Or(configfile.Field(n, ce.Field), n), "firewalld.%s", ce.Error())
		}
		return configfile.Errorf(n, "firewalld: %v", err)
	}
	return nil
}
