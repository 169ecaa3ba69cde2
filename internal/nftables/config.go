package nftables

import (
	"errors"
	"fmt"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/synguard/synguard/internal/configfile"
)

// Defaults for Config fields left empty.
const (
	// DefaultTable is the name of synguard's table (family inet).
	DefaultTable = "synguard"
	// DefaultTimeoutGrace is how far past a block's expiry the kernel keeps
	// its element: long enough that a live responder always lifts the block
	// itself, short enough that one gone for good leaves nothing for long.
	DefaultTimeoutGrace = 10 * time.Minute
	// DefaultCallTimeout bounds one batch or dump when the context has none.
	DefaultCallTimeout = 30 * time.Second
)

// Config is the nftables backend's settings: the firewall.nftables section
// of the responder's configuration, and what New needs.
type Config struct {
	// Table names synguard's table in family inet. Nothing else ever lives
	// in it: Purge deletes it whole.
	Table string `yaml:"table"`
	// TimeoutGrace is how far past its block's expiry each element's
	// kernel-side timeout lies.
	TimeoutGrace configfile.Duration `yaml:"timeout_grace"`
	// Netns is the path of the network namespace to manage
	// (/run/netns/NAME); empty for the responder's own. Not in the file:
	// tests point it at a namespace of their own.
	Netns string `yaml:"-"`
	// CallTimeout bounds one netlink exchange; DefaultCallTimeout when zero.
	// Not in the file.
	CallTimeout time.Duration `yaml:"-"`
}

// DefaultConfig is the section's defaults, as examples/responder.yml writes
// them.
func DefaultConfig() Config {
	return Config{Table: DefaultTable, TimeoutGrace: configfile.Duration(DefaultTimeoutGrace)}
}

// ConfigError is a mistake in one field of the section; Field is its YAML
// key, so that the caller can point at the line.
type ConfigError struct {
	Field string
	Msg   string
}

// Error implements error.
func (e *ConfigError) Error() string { return e.Field + ": " + e.Msg }

// Validate checks the section as written: an empty table name in a file is
// a mistake, not a request for the default. Errors are *ConfigError.
func (c Config) Validate() error {
	if !validName(c.Table) {
		return &ConfigError{"table", fmt.Sprintf("invalid table name %q (letters, digits, - _ only, 1 to 31, a letter first)", c.Table)}
	}
	if c.TimeoutGrace.Std() < time.Minute {
		return &ConfigError{"timeout_grace", fmt.Sprintf("%v: at least 1m, so that the kernel never lifts a block before the responder does", c.TimeoutGrace)}
	}
	return nil
}

// Capacity is the most entries one family can hold: interval sets have no
// limit of synguard's, so 0.
func (c Config) Capacity() int { return 0 }

func (c Config) withDefaults() Config {
	if c.Table == "" {
		c.Table = DefaultTable
	}
	if c.TimeoutGrace <= 0 {
		c.TimeoutGrace = configfile.Duration(DefaultTimeoutGrace)
	}
	if c.CallTimeout <= 0 {
		c.CallTimeout = DefaultCallTimeout
	}
	return c
}

// validName keeps table names plain and within nftables' limits.
func validName(n string) bool {
	if n == "" || len(n) > 31 {
		return false
	}
	for i, r := range n {
		letter := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z'
		if !(letter || i > 0 && (r >= '0' && r <= '9' || r == '-' || r == '_')) {
			return false
		}
	}
	return true
}

// UnmarshalYAML reads the section over the defaults already in c, refusing
// unknown keys, and validates it, naming the line of the field it refuses.
func (c *Config) UnmarshalYAML(n *yaml.Node) error {
	type plain Config
	if err := configfile.StrictDecode(n, (*plain)(c), "nftables"); err != nil {
		return err
	}
	if err := c.Validate(); err != nil {
		var ce *ConfigError
		if errors.As(err, &ce) {
			return configfile.Errorf(configfile.Or(configfile.Field(n, ce.Field), n), "nftables.%s", ce.Error())
		}
		return configfile.Errorf(n, "nftables: %v", err)
	}
	return nil
}
