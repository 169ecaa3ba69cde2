package responderconfig

import (
	"fmt"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"gopkg.in/yaml.v3"

	"github.com/synguard/synguard/internal/configfile"
	"github.com/synguard/synguard/internal/origin"
	"github.com/synguard/synguard/internal/policy"
	"github.com/synguard/synguard/internal/prefix"
)

// Firewall backend modes.
const (
	ModeIPSet = "ipset"
	ModeZone  = "zone"
)

// Config is the responder's configuration file.
type Config struct {
	// StateFile holds the owned blocks (crash-safe; a lock file beside it).
	StateFile string `yaml:"state_file"`
	// Host is this host's name as in the alerts' host label ("" accepts any).
	Host string `yaml:"host"`
	// DryRun decides and counts, and changes nothing.
	DryRun    bool      `yaml:"dry_run"`
	Webhook   Webhook   `yaml:"webhook"`
	API       API       `yaml:"api"`
	Alerts    Alerts    `yaml:"alerts"`
	Policy    Policy    `yaml:"policy"`
	Firewalld Firewalld `yaml:"firewalld"`
	// Origin names the optional AS and country databases; policy.origin
	// decides with them, and each block records its origin.
	Origin origin.Config `yaml:"origin"`

	// Tokens read from the files named above.
	WebhookToken string `yaml:"-"`
	APIToken     string `yaml:"-"`
}

// Webhook configures the Alertmanager endpoint.
type Webhook struct {
	BearerTokenFile string `yaml:"bearer_token_file"`
	MaxBodyBytes    int64  `yaml:"max_body_bytes"`
	MaxAlerts       int    `yaml:"max_alerts"`
}

// API configures the operator API.
type API struct {
	BearerTokenFile string `yaml:"bearer_token_file"`
	ReadOnly        bool   `yaml:"read_only"`
}

// Alerts selects the alerts that ask for blocks.
type Alerts struct {
	PrefixLabel string            `yaml:"prefix_label"`
	Match       map[string]string `yaml:"match"`
	MatchRE     map[string]Regexp `yaml:"match_re"`
}

// Policy is the safety policy.
type Policy struct {
	MinPrefixLength   prefix.Lengths `yaml:"min_prefix_length"`
	Allowlist         prefix.List    `yaml:"allowlist"`
	AllowOwnAddresses bool           `yaml:"allowlist_own_addresses"`
	MaxActiveBlocks   int            `yaml:"max_active_blocks"`
	RateLimit         RateLimit      `yaml:"rate_limit"`
	BlockDuration     BlockDuration  `yaml:"block_duration"`
	OffenceMemory     Duration       `yaml:"offence_memory"`
	LiftOnResolve     bool           `yaml:"lift_on_resolve"`
	MinHold           Duration       `yaml:"min_hold"`
	// Origin never blocks, or only blocks, listed countries and ASes.
	Origin origin.Filter `yaml:"origin"`
}

// RateLimit bounds new blocks from alerts.
type RateLimit struct {
	BlocksPerMinute float64 `yaml:"blocks_per_minute"`
	Burst           int     `yaml:"burst"`
}

// BlockDuration is the escalation: base * factor^(offence-1), at most max.
type BlockDuration struct {
	Base   Duration `yaml:"base"`
	Factor float64  `yaml:"factor"`
	Max    Duration `yaml:"max"`
}

// Firewalld configures the backend.
type Firewalld struct {
	Mode              string   `yaml:"mode"`
	Zone              string   `yaml:"zone"`
	Permanent         bool     `yaml:"permanent"`
	IPSetIPv4         string   `yaml:"ipset_ipv4"`
	IPSetIPv6         string   `yaml:"ipset_ipv6"`
	IPSetMaxElements  int      `yaml:"ipset_max_elements"`
	AllowReload       bool     `yaml:"allow_reload"`
	KeepConnections   bool     `yaml:"keep_connections"`
	ConntrackNetns    string   `yaml:"conntrack_netns"`
	ReconcileInterval Duration `yaml:"reconcile_interval"`
}

// Default returns the configuration used without a file: the values of
// examples/responder.yml.
func Default() *Config {
	p := policy.Default()
	return &Config{
		StateFile: "/var/lib/synguard-responder/state.json",
		Webhook:   Webhook{MaxBodyBytes: 4 << 20, MaxAlerts: 1000},
		Alerts:    Alerts{PrefixLabel: p.PrefixLabel, MatchRE: map[string]Regexp{}},
		Policy: Policy{
			MinPrefixLength:   p.MinLength,
			Allowlist:         prefix.List{},
			AllowOwnAddresses: true,
			MaxActiveBlocks:   p.MaxActive,
			RateLimit:         RateLimit{BlocksPerMinute: p.RatePerMinute, Burst: p.Burst},
			BlockDuration:     BlockDuration{Base: Duration(p.BaseDuration), Factor: p.Factor, Max: Duration(p.MaxDuration)},
			OffenceMemory:     Duration(p.OffenceMemory),
			MinHold:           Duration(p.MinHold),
		},
		Firewalld: Firewalld{
			Mode: ModeIPSet, Zone: "drop", IPSetIPv4: "synguard4", IPSetIPv6: "synguard6",
			IPSetMaxElements: 65536, AllowReload: true, ReconcileInterval: Duration(time.Minute),
		},
	}
}

// Load reads and validates the file at path; "" gives Default (which still
// reads no token).
func Load(path string) (*Config, error) {
	c := Default()
	if path == "" {
		c.applyDefaults()
		return c, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, &configfile.FileError{File: path, Msg: fmt.Sprintf("read config: %v", err)}
	}
	if err := configfile.Decode(path, b, c); err != nil {
		return nil, err
	}
	c.applyDefaults()
	var root yaml.Node
	_ = yaml.Unmarshal(b, &root)
	if err := c.validate(&root); err != nil {
		le, ok := err.(*configfile.LineError)
		if !ok {
			return nil, &configfile.FileError{File: path, Msg: err.Error()}
		}
		return nil, &configfile.FileError{File: path, Line: le.Line, Msg: le.Msg}
	}
	return c, nil
}

func (c *Config) applyDefaults() {
	// A match map given in the file replaces the default, not merges.
	if c.Alerts.Match == nil {
		c.Alerts.Match = map[string]string{"action": "block"}
	}
}

// node returns the node at a dotted path under root (a document node), or
// the deepest one found, so errors point as close as they can.
func node(root *yaml.Node, path string) *yaml.Node {
	n := root
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	for _, key := range strings.Split(path, ".") {
		found := false
		if n.Kind == yaml.MappingNode {
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == key {
					n, found = n.Content[i+1], true
					break
				}
			}
		}
		if !found {
			return n
		}
	}
	return n
}

func (c *Config) validate(root *yaml.Node) error {
	at := func(path string) *yaml.Node { return node(root, path) }
	if c.StateFile == "" {
		return configfile.Errorf(at("state_file"), "state_file must not be empty: the responder must remember what it blocked")
	}
	if c.Webhook.MaxBodyBytes < 1024 {
		return configfile.Errorf(at("webhook.max_body_bytes"), "webhook.max_body_bytes %d is below 1024", c.Webhook.MaxBodyBytes)
	}
	if c.Webhook.MaxAlerts < 1 {
		return configfile.Errorf(at("webhook.max_alerts"), "webhook.max_alerts must be at least 1")
	}
	var err error
	if c.WebhookToken, err = readToken(c.Webhook.BearerTokenFile); err != nil {
		return configfile.Errorf(at("webhook.bearer_token_file"), "%v", err)
	}
	if c.APIToken, err = readToken(c.API.BearerTokenFile); err != nil {
		return configfile.Errorf(at("api.bearer_token_file"), "%v", err)
	}
	if c.Alerts.PrefixLabel == "" || !model.LegacyValidation.IsValidLabelName(c.Alerts.PrefixLabel) {
		return configfile.Errorf(at("alerts.prefix_label"), "alerts.prefix_label %q is not a label name", c.Alerts.PrefixLabel)
	}
	for k := range c.Alerts.Match {
		if !model.LegacyValidation.IsValidLabelName(k) {
			return configfile.Errorf(at("alerts.match"), "alerts.match: %q is not a label name", k)
		}
	}
	p := c.Policy
	if err := p.MinPrefixLength.Validate(); err != nil {
		return configfile.Errorf(at("policy.min_prefix_length"), "policy.min_prefix_length: %v", err)
	}
	if p.MinPrefixLength.IPv4 < 9 || p.MinPrefixLength.IPv6 < 9 {
		return configfile.Errorf(at("policy.min_prefix_length"), "policy.min_prefix_length must be at least 9 for both families: a label must never be able to block a /8 or more")
	}
	if p.MaxActiveBlocks < 1 {
		return configfile.Errorf(at("policy.max_active_blocks"), "policy.max_active_blocks must be at least 1")
	}
	if c.Firewalld.Mode == ModeIPSet && p.MaxActiveBlocks > c.Firewalld.IPSetMaxElements {
		return configfile.Errorf(at("policy.max_active_blocks"), "policy.max_active_blocks %d exceeds firewalld.ipset_max_elements %d", p.MaxActiveBlocks, c.Firewalld.IPSetMaxElements)
	}
	if p.RateLimit.BlocksPerMinute <= 0 {
		return configfile.Errorf(at("policy.rate_limit.blocks_per_minute"), "policy.rate_limit.blocks_per_minute must be positive")
	}
	if p.RateLimit.Burst < 1 {
		return configfile.Errorf(at("policy.rate_limit.burst"), "policy.rate_limit.burst must be at least 1")
	}
	if p.BlockDuration.Base <= 0 {
		return configfile.Errorf(at("policy.block_duration.base"), "policy.block_duration.base must be positive")
	}
	if p.BlockDuration.Max < p.BlockDuration.Base {
		return configfile.Errorf(at("policy.block_duration.max"), "policy.block_duration.max %v is below base %v", time.Duration(p.BlockDuration.Max), time.Duration(p.BlockDuration.Base))
	}
	if p.BlockDuration.Factor < 1 {
		return configfile.Errorf(at("policy.block_duration.factor"), "policy.block_duration.factor must be at least 1")
	}
	if err := c.Policy.Origin.Validate(); err != nil {
		return configfile.Errorf(at("policy.origin"), "policy.origin: %v", err)
	}
	if c.Policy.Origin.Active() && !c.Origin.Enabled() {
		return configfile.Errorf(at("policy.origin"), "policy.origin lists countries or ASes, but no origin database is configured (origin.asn_database, origin.country_database)")
	}
	if len(c.Policy.Origin.NeverCountries)+len(c.Policy.Origin.OnlyCountries) > 0 && c.Origin.CountryDatabase == "" {
		return configfile.Errorf(at("policy.origin"), "policy.origin lists countries, but origin.country_database is not set")
	}
	if len(c.Policy.Origin.NeverASNs)+len(c.Policy.Origin.OnlyASNs) > 0 && c.Origin.ASNDatabase == "" {
		return configfile.Errorf(at("policy.origin"), "policy.origin lists ASes, but origin.asn_database is not set")
	}
	f := c.Firewalld
	switch f.Mode {
	case ModeIPSet, ModeZone:
	default:
		return configfile.Errorf(at("firewalld.mode"), "firewalld.mode %q: want %q or %q", f.Mode, ModeIPSet, ModeZone)
	}
	if f.Zone == "" {
		return configfile.Errorf(at("firewalld.zone"), "firewalld.zone must not be empty (firewalld would read it as its default zone)")
	}
	if f.Mode == ModeIPSet && (f.IPSetIPv4 == "" || f.IPSetIPv6 == "" || f.IPSetIPv4 == f.IPSetIPv6) {
		return configfile.Errorf(at("firewalld"), "firewalld.ipset_ipv4 and ipset_ipv6 must be two different names")
	}
	if f.IPSetMaxElements < 1 {
		return configfile.Errorf(at("firewalld.ipset_max_elements"), "firewalld.ipset_max_elements must be positive")
	}
	if f.ReconcileInterval < Duration(time.Second) {
		return configfile.Errorf(at("firewalld.reconcile_interval"), "firewalld.reconcile_interval must be at least 1s")
	}
	pol := c.PolicyConfig()
	if err := pol.Validate(); err != nil {
		return configfile.Errorf(at("policy"), "policy: %v", err)
	}
	return nil
}

func readToken(path string) (string, error) {
	if path == "" {
		return "", nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read bearer token: %w", err)
	}
	t := strings.TrimSpace(string(b))
	if t == "" {
		return "", fmt.Errorf("bearer token file %s is empty", path)
	}
	return t, nil
}

// PolicyConfig returns the policy (without the host's own addresses, which
// the engine reads itself).
func (c *Config) PolicyConfig() policy.Config {
	p := c.Policy
	re := map[string]*regexp.Regexp{}
	for k, v := range c.Alerts.MatchRE {
		re[k] = v.re
	}
	return policy.Config{
		PrefixLabel:   c.Alerts.PrefixLabel,
		Match:         c.Alerts.Match,
		MatchRE:       re,
		Host:          c.Host,
		MinLength:     p.MinPrefixLength,
		Allow:         prefix.NewSet(p.Allowlist...),
		MaxActive:     p.MaxActiveBlocks,
		RatePerMinute: p.RateLimit.BlocksPerMinute,
		Burst:         p.RateLimit.Burst,
		BaseDuration:  time.Duration(p.BlockDuration.Base),
		Factor:        p.BlockDuration.Factor,
		MaxDuration:   time.Duration(p.BlockDuration.Max),
		OffenceMemory: time.Duration(p.OffenceMemory),
		LiftOnResolve: p.LiftOnResolve,
		MinHold:       time.Duration(p.MinHold),
		DryRun:        c.DryRun,
		Origin:        p.Origin,
	}
}

// Duration is a duration in Prometheus's notation (30s, 1h, 7d, 1w).
type Duration time.Duration

// UnmarshalYAML parses the duration, naming its line when it is bad.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := model.ParseDuration(n.Value)
	if err != nil {
		return configfile.Errorf(n, "%q is not a duration such as 90s, 1h or 7d", n.Value)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes the duration back in the same notation.
func (d Duration) MarshalYAML() (any, error) { return model.Duration(d).String(), nil }

// Regexp is a label value expression, anchored at both ends as
// Alertmanager's are.
type Regexp struct{ re *regexp.Regexp }

// UnmarshalYAML compiles the expression.
func (r *Regexp) UnmarshalYAML(n *yaml.Node) error {
	re, err := regexp.Compile("^(?:" + n.Value + ")$")
	if err != nil {
		return configfile.Errorf(n, "bad regular expression %q: %v", n.Value, err)
	}
	r.re = re
	return nil
}
