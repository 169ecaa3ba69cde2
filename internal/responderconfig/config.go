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
	"github.com/synguard/synguard/internal/firewalld"
	"github.com/synguard/synguard/internal/nftables"
	"github.com/synguard/synguard/internal/origin"
	"github.com/synguard/synguard/internal/policy"
	"github.com/synguard/synguard/internal/prefix"
)

// The values of firewall.backend: firewalld (the default) or plain nftables.
const (
	BackendFirewalld = "firewalld"
	BackendNftables  = "nftables"
)

// Config is the responder's configuration file.
type Config struct {
	// StateFile holds the owned blocks (crash-safe; a lock file beside it).
	StateFile string `yaml:"state_file"`
	// Host is this host's name as in the alerts' host label ("" accepts any).
	Host string `yaml:"host"`
	// DryRun decides and counts, and changes nothing.
	DryRun   bool     `yaml:"dry_run"`
	Webhook  Webhook  `yaml:"webhook"`
	API      API      `yaml:"api"`
	Alerts   Alerts   `yaml:"alerts"`
	Policy   Policy   `yaml:"policy"`
	Firewall Firewall `yaml:"firewall"`
	// Origin names the optional AS and country databases; policy.origin
	// decides with them, and each block records its origin.
	Origin origin.Config `yaml:"origin"`
	// InsecureOpenRoutes names the mutating routes (webhook, api, reload)
	// the operator serves without authentication, knowingly: any other
	// route without a token or a client certificate refuses the start.
	InsecureOpenRoutes []string `yaml:"insecure_open_routes"`

	// Tokens read from the files named above.
	WebhookToken string `yaml:"-"`
	APIToken     string `yaml:"-"`
	// OpenRoutes are the mutating routes LoadFor found served without any
	// authentication, each opened in InsecureOpenRoutes: the responder
	// logs a warning naming each.
	OpenRoutes []string `yaml:"-"`
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
	PrefixLabel string `yaml:"prefix_label"`
	// HostLabel names the label that says which host an alert is for: the
	// mixin's _config.hostLabel (default host).
	HostLabel string                       `yaml:"host_label"`
	Match     map[string]string            `yaml:"match"`
	MatchRE   map[string]configfile.Regexp `yaml:"match_re"`
}

// Policy is the safety policy.
type Policy struct {
	MinPrefixLength   prefix.Lengths      `yaml:"min_prefix_length"`
	Allowlist         prefix.List         `yaml:"allowlist"`
	AllowOwnAddresses bool                `yaml:"allowlist_own_addresses"`
	MaxActiveBlocks   int                 `yaml:"max_active_blocks"`
	RateLimit         RateLimit           `yaml:"rate_limit"`
	BlockDuration     BlockDuration       `yaml:"block_duration"`
	OffenceMemory     configfile.Duration `yaml:"offence_memory"`
	LiftOnResolve     bool                `yaml:"lift_on_resolve"`
	MinHold           configfile.Duration `yaml:"min_hold"`
	// Origin never blocks, or only blocks, listed countries and ASes.
	Origin origin.Filter `yaml:"origin"`
	// Widen blocks a range in place of many alert blocks inside it.
	Widen Widen `yaml:"widen"`
}

// Widen is policy.widen: when MinBlocks active alert blocks lie inside one
// prefix of the given lengths, that prefix is blocked instead (0: off).
type Widen struct {
	MinBlocks      int `yaml:"min_blocks"`
	prefix.Lengths `yaml:",inline"`
}

// RateLimit bounds new blocks from alerts.
type RateLimit struct {
	BlocksPerMinute float64 `yaml:"blocks_per_minute"`
	Burst           int     `yaml:"burst"`
}

// BlockDuration is the escalation: base * factor^(offence-1), at most max.
type BlockDuration struct {
	Base   configfile.Duration `yaml:"base"`
	Factor float64             `yaml:"factor"`
	Max    configfile.Duration `yaml:"max"`
}

// Firewall is the firewall section: which backend drops traffic, the
// settings every backend shares, and each backend's own settings beneath
// it, in a subsection the backend's package owns (defaults, validation).
type Firewall struct {
	// Backend names the backend: "firewalld" (the default) or "nftables".
	Backend string `yaml:"backend"`
	// ReconcileInterval is how often the responder compares the firewall
	// with the desired state in full, besides after each event.
	ReconcileInterval configfile.Duration `yaml:"reconcile_interval"`
	// KeepConnections leaves established connections of a new block alone;
	// by default they are cut (firewall.WithCut with conntrack).
	KeepConnections bool `yaml:"keep_connections"`
	// ConntrackNetns is the network namespace whose connections are cut
	// (/run/netns/NAME); empty means the responder's own.
	ConntrackNetns string `yaml:"conntrack_netns"`
	// Firewalld is the firewalld backend's own section.
	Firewalld firewalld.Config `yaml:"firewalld"`
	// Nftables is the nftables backend's own section.
	Nftables nftables.Config `yaml:"nftables"`
}

// UnmarshalYAML reads the section over its defaults, refusing unknown keys
// and backends, naming the line of what it refuses.
func (f *Firewall) UnmarshalYAML(n *yaml.Node) error {
	type plain Firewall
	if err := configfile.StrictDecode(n, (*plain)(f), "firewall"); err != nil {
		return err
	}
	at := func(key string) *yaml.Node { return configfile.Or(configfile.Field(n, key), n) }
	if f.Backend != BackendFirewalld && f.Backend != BackendNftables {
		return configfile.Errorf(at("backend"), "firewall.backend %q is not a known backend (known: %s, %s)", f.Backend, BackendFirewalld, BackendNftables)
	}
	if f.ReconcileInterval < configfile.Duration(time.Second) {
		return configfile.Errorf(at("reconcile_interval"), "firewall.reconcile_interval must be at least 1s")
	}
	return nil
}

// Capacity is the most blocks the backend holds per family, 0 for no
// limit of its own.
func (f Firewall) Capacity() int {
	if f.Backend == BackendNftables {
		return f.Nftables.Capacity()
	}
	return f.Firewalld.Capacity()
}

// Default returns the configuration used without a file: the values of
// examples/responder.yml.
func Default() *Config {
	p := policy.Default()
	return &Config{
		StateFile:          "/var/lib/synguard-responder/state.json",
		InsecureOpenRoutes: []string{},
		Webhook:            Webhook{MaxBodyBytes: 4 << 20, MaxAlerts: 1000},
		Alerts:             Alerts{PrefixLabel: p.PrefixLabel, HostLabel: policy.LabelHost, MatchRE: map[string]configfile.Regexp{}},
		Policy: Policy{
			MinPrefixLength:   p.MinLength,
			Allowlist:         prefix.List{},
			AllowOwnAddresses: true,
			MaxActiveBlocks:   p.MaxActive,
			RateLimit:         RateLimit{BlocksPerMinute: p.RatePerMinute, Burst: p.Burst},
			BlockDuration:     BlockDuration{Base: configfile.Duration(p.BaseDuration), Factor: p.Factor, Max: configfile.Duration(p.MaxDuration)},
			OffenceMemory:     configfile.Duration(p.OffenceMemory),
			MinHold:           configfile.Duration(p.MinHold),
			Widen:             Widen{MinBlocks: p.Widening.MinBlocks, Lengths: p.Widening.Length},
		},
		Firewall: Firewall{
			Backend: BackendFirewalld, ReconcileInterval: configfile.Duration(time.Minute),
			Firewalld: firewalld.DefaultConfig(), Nftables: nftables.DefaultConfig(),
		},
	}
}

// Load reads and validates the file at path; "" gives Default (which still
// reads no token). It does not check that the mutating routes are
// authenticated, which depends on how they are served: LoadFor does.
func Load(path string) (*Config, error) {
	return load(path, nil)
}

// LoadFor is Load for a responder about to serve as s says: it also
// refuses a mutating route without authentication that the file does not
// open by name in insecure_open_routes, naming the file, the line and the
// fix, and lists the routes opened in OpenRoutes.
func LoadFor(path string, s Serving) (*Config, error) {
	return load(path, &s)
}

func load(path string, s *Serving) (*Config, error) {
	c := Default()
	if path == "" {
		c.applyDefaults()
		if s != nil {
			if err := c.checkAuth(nil, *s); err != nil {
				msg := err.Error()
				if le, ok := err.(*configfile.LineError); ok {
					msg = le.Msg
				}
				return nil, &configfile.FileError{File: "(no --config.file: the defaults)", Msg: msg}
			}
		}
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
	err = c.validate(&root)
	if err == nil && s != nil {
		err = c.checkAuth(&root, *s)
	}
	if err != nil {
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

func (c *Config) validate(root *yaml.Node) error {
	at := func(path string) *yaml.Node { return configfile.At(root, path) }
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
	if err := validRoutes(c.InsecureOpenRoutes); err != nil {
		return configfile.Errorf(at("insecure_open_routes"), "%v", err)
	}
	if c.Alerts.PrefixLabel == "" || !model.LegacyValidation.IsValidLabelName(c.Alerts.PrefixLabel) {
		return configfile.Errorf(at("alerts.prefix_label"), "alerts.prefix_label %q is not a label name", c.Alerts.PrefixLabel)
	}
	if c.Alerts.HostLabel == "" || !model.LegacyValidation.IsValidLabelName(c.Alerts.HostLabel) {
		return configfile.Errorf(at("alerts.host_label"), "alerts.host_label %q is not a label name", c.Alerts.HostLabel)
	}
	for k := range c.Alerts.Match {
		if !model.LegacyValidation.IsValidLabelName(k) {
			return configfile.Errorf(at("alerts.match"), "alerts.match: %q is not a label name", k)
		}
	}
	p := c.Policy
	if capacity := c.Firewall.Capacity(); capacity > 0 && p.MaxActiveBlocks > capacity {
		return configfile.Errorf(at("policy.max_active_blocks"), "policy.max_active_blocks %d exceeds what the firewall backend holds per family (%d: firewall.firewalld.ipset_max_elements)", p.MaxActiveBlocks, capacity)
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
	// The rules themselves are policy's: checked there, once, and reported
	// at the policy section.
	pol := c.PolicyConfig()
	if err := pol.Validate(); err != nil {
		return configfile.Errorf(sectionKey(root, "policy"), "policy: %v", err)
	}
	return nil
}

// sectionKey returns the key node of a top-level section (its "name:"
// line), or the document when the section is left out.
func sectionKey(root *yaml.Node, name string) *yaml.Node {
	n := root
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	for i := 0; n.Kind == yaml.MappingNode && i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == name {
			return n.Content[i]
		}
	}
	return n
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
		re[k] = v.Anchored()
	}
	return policy.Config{
		PrefixLabel:   c.Alerts.PrefixLabel,
		HostLabel:     c.Alerts.HostLabel,
		Match:         c.Alerts.Match,
		MatchRE:       re,
		Host:          c.Host,
		MinLength:     p.MinPrefixLength,
		Allow:         prefix.NewSet(p.Allowlist...),
		MaxActive:     p.MaxActiveBlocks,
		RatePerMinute: p.RateLimit.BlocksPerMinute,
		Burst:         p.RateLimit.Burst,
		BaseDuration:  p.BlockDuration.Base.Std(),
		Factor:        p.BlockDuration.Factor,
		MaxDuration:   p.BlockDuration.Max.Std(),
		OffenceMemory: p.OffenceMemory.Std(),
		LiftOnResolve: p.LiftOnResolve,
		MinHold:       p.MinHold.Std(),
		DryRun:        c.DryRun,
		Origin:        p.Origin,
		Widening:      policy.Widening{MinBlocks: p.Widen.MinBlocks, Length: p.Widen.Lengths},
	}
}
