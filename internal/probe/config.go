package probe

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/common/config"
	"gopkg.in/yaml.v3"

	"github.com/synguard/synguard/internal/configfile"
)

// Defaults applied where the config leaves a field out.
const (
	DefaultTimeout     = configfile.Duration(5 * time.Second)
	DefaultInterval    = configfile.Duration(30 * time.Second)
	DefaultConcurrency = 32
	DefaultEHLO        = "localhost"
)

// Config is the probes section of the exporter's config: how to probe
// (modules) and what to probe (targets).
type Config struct {
	// Concurrency bounds how many probes run at once across all targets.
	Concurrency int `yaml:"concurrency"`
	// Modules maps a module name to how it probes.
	Modules map[string]Module `yaml:"modules"`
	// Targets lists what the scheduler probes in the background.
	Targets []Target `yaml:"targets"`
}

// Module says how to probe: which prober, with what timeout and options.
type Module struct {
	// Prober names an entry of the protocol table: icmp, tcp, smtp, pop3,
	// imap, ftp, http.
	Prober string `yaml:"prober"`
	// Timeout bounds one whole probe, resolution included.
	Timeout configfile.Duration `yaml:"timeout"`
	// IPProtocol is ip4 or ip6 to force a family; empty prefers IPv4 and
	// falls back to IPv6.
	IPProtocol string `yaml:"ip_protocol"`
	// TLS wraps the connection in TLS from the start (the line-based
	// probers: implicit TLS such as ports 465, 995, 993, 990).
	TLS bool `yaml:"tls"`
	// StartTLS upgrades in the dialogue: SMTP STARTTLS, POP3 STLS, IMAP
	// STARTTLS, FTP AUTH TLS.
	StartTLS bool `yaml:"starttls"`
	// TLSConfig verifies the server's certificate.
	TLSConfig TLSConfig `yaml:"tls_config"`
	// EHLO is the name the SMTP dialogue greets with.
	EHLO string `yaml:"ehlo"`
	// FTPLogin, when set, makes the FTP dialogue log in.
	FTPLogin *FTPLogin `yaml:"ftp_login"`
	// Dialogue replaces the built-in steps of smtp, pop3, imap and ftp, or
	// gives a tcp module a dialogue of its own.
	Dialogue []Step `yaml:"dialogue"`
	// HTTP holds the http prober's options.
	HTTP HTTPOptions `yaml:"http"`

	steps []Step      // the dialogue that runs: Dialogue or the built-in one
	tls   *tls.Config // built from TLSConfig; ServerName filled per target
}

// TLSConfig says how a probe verifies the server's certificate (ca_file,
// server_name, insecure_skip_verify, min_version) and which client
// certificate it shows (cert_file, key_file): Prometheus's own TLS settings,
// the tls_config blackbox_exporter's modules take, so a module's tls_config
// reads the same in both.
type TLSConfig = config.TLSConfig

// FTPLogin is the account an FTP module logs in with.
type FTPLogin struct {
	Username string `yaml:"username"`
	Password string `yaml:"password"`
}

// HTTPOptions are the http prober's options.
type HTTPOptions struct {
	// Method is the request method, GET by default.
	Method string `yaml:"method"`
	// Headers are added to the request.
	Headers map[string]string `yaml:"headers"`
	// ValidStatusCodes lists accepted codes: 200, "2xx", "200-399". 2xx by default.
	ValidStatusCodes StatusCodes `yaml:"valid_status_codes"`
	// BodyRegexp, when set, must match the first MiB of the body.
	BodyRegexp *configfile.Regexp `yaml:"body_regexp"`
	// FollowRedirects follows up to 10 redirects (default true); when false
	// the redirect itself is the response judged by ValidStatusCodes.
	FollowRedirects *bool `yaml:"follow_redirects"`
}

// Step is one step of a line-based dialogue. A step sends Send (if set),
// then reads lines until one matches Expect (if set), then upgrades to TLS
// (if StartTLS). While expecting, a line matching Skip is passed over
// (continuation lines such as "250-"); any other line fails the probe at once,
// so a wrong banner fails fast instead of waiting for the timeout.
type Step struct {
	Send     string             `yaml:"send"`
	Expect   *configfile.Regexp `yaml:"expect"`
	Skip     *configfile.Regexp `yaml:"skip"`
	StartTLS bool               `yaml:"starttls"`
}

// Target is one thing the scheduler probes.
type Target struct {
	// Module names the module in Config.Modules.
	Module string `yaml:"module"`
	// Target is host (icmp), host:port (tcp, smtp, pop3, imap, ftp) or a
	// URL (http): the protocol table's target kind.
	Target string `yaml:"target"`
	// Interval is the time between probes; 30s by default.
	Interval configfile.Duration `yaml:"interval"`

	moduleNode, targetNode, intervalNode *yaml.Node
}

// UnmarshalYAML implements yaml.Unmarshaler: it sets defaults, refuses
// unknown fields and checks each target against its module.
func (c *Config) UnmarshalYAML(n *yaml.Node) error {
	type plain Config
	p := plain{}
	if err := configfile.StrictDecode(n, &p, "probe.Config"); err != nil {
		return err
	}
	if p.Concurrency < 0 {
		return configfile.Errorf(configfile.Field(n, "concurrency"), "concurrency must not be negative, got %d", p.Concurrency)
	}
	if p.Concurrency == 0 {
		p.Concurrency = DefaultConcurrency
	}
	seen := map[string]bool{}
	for i := range p.Targets {
		t := &p.Targets[i]
		m, ok := p.Modules[t.Module]
		if !ok {
			return configfile.Errorf(t.moduleNode, "target %q uses unknown module %q (known: %s)", t.Target, t.Module, moduleNames(p.Modules))
		}
		if err := CheckTarget(m.Prober, t.Target); err != nil {
			return configfile.Errorf(t.targetNode, "%v", err)
		}
		if m.Timeout > t.Interval {
			return configfile.Errorf(configfile.Or(t.intervalNode, t.targetNode), "interval %s is shorter than module %q's timeout %s", t.Interval, t.Module, m.Timeout)
		}
		k := t.Module + "\x00" + t.Target
		if seen[k] {
			return configfile.Errorf(t.targetNode, "target %q with module %q is listed twice", t.Target, t.Module)
		}
		seen[k] = true
	}
	*c = Config(p)
	return nil
}

// UnmarshalYAML implements yaml.Unmarshaler.
func (t *Target) UnmarshalYAML(n *yaml.Node) error {
	type plain Target
	p := plain{Interval: DefaultInterval}
	if err := configfile.StrictDecode(n, &p, "probe.Target"); err != nil {
		return err
	}
	p.moduleNode, p.targetNode, p.intervalNode = configfile.Field(n, "module"), configfile.Field(n, "target"), configfile.Field(n, "interval")
	if p.Module == "" {
		return configfile.Errorf(n, "target needs a module")
	}
	if p.Target == "" {
		return configfile.Errorf(n, "target needs a target (host, host:port or URL)")
	}
	if p.Interval <= 0 {
		return configfile.Errorf(p.intervalNode, "interval must be positive, got %s", p.Interval)
	}
	*t = Target(p)
	return nil
}

// UnmarshalYAML implements yaml.Unmarshaler.
func (s *Step) UnmarshalYAML(n *yaml.Node) error {
	type plain Step
	p := plain{}
	if err := configfile.StrictDecode(n, &p, "probe.Step"); err != nil {
		return err
	}
	if p.Send == "" && p.Expect == nil && !p.StartTLS {
		return configfile.Errorf(n, "dialogue step needs send, expect or starttls")
	}
	if p.Skip != nil && p.Expect == nil {
		return configfile.Errorf(configfile.Field(n, "skip"), "skip needs expect in the same step")
	}
	if strings.ContainsAny(p.Send, "\r\n") {
		return configfile.Errorf(configfile.Field(n, "send"), "send is one line: CRLF is added, do not include line breaks")
	}
	*s = Step(p)
	return nil
}

// UnmarshalYAML implements yaml.Unmarshaler: defaults first, then checks
// that options fit the prober's entry of the protocol table, then builds the
// dialogue and TLS config.
func (m *Module) UnmarshalYAML(n *yaml.Node) error {
	type plain Module
	p := plain{Timeout: DefaultTimeout}
	if err := configfile.StrictDecode(n, &p, "probe.Module"); err != nil {
		return err
	}
	pr := lookup(p.Prober)
	if pr == nil {
		return configfile.Errorf(configfile.Or(configfile.Field(n, "prober"), n), "unknown prober %q (known: %s)", p.Prober, proberNames(nil))
	}
	if p.Timeout <= 0 {
		return configfile.Errorf(configfile.Field(n, "timeout"), "timeout must be positive, got %s", p.Timeout)
	}
	if p.IPProtocol != "" && p.IPProtocol != "ip4" && p.IPProtocol != "ip6" {
		return configfile.Errorf(configfile.Field(n, "ip_protocol"), "ip_protocol must be ip4 or ip6, got %q", p.IPProtocol)
	}
	if err := checkOptions(n, pr); err != nil {
		return err
	}
	if p.TLS && p.StartTLS {
		return configfile.Errorf(configfile.Field(n, "starttls"), "tls (implicit TLS) and starttls exclude each other")
	}
	if len(p.Dialogue) > 0 && p.StartTLS {
		return configfile.Errorf(configfile.Field(n, "starttls"), "starttls applies to the built-in dialogue; with dialogue, write a starttls step")
	}
	if p.FTPLogin != nil && p.FTPLogin.Username == "" {
		return configfile.Errorf(configfile.Field(n, "ftp_login"), "ftp_login needs a username (\"anonymous\" for anonymous FTP)")
	}
	if p.EHLO == "" {
		p.EHLO = DefaultEHLO
	}
	if pr.name == ProberHTTP {
		p.HTTP.setDefaults()
	}
	mod := Module(p)
	mod.steps = pr.steps(&mod)
	tc, err := buildTLS(p.TLSConfig, configfile.Field(n, "tls_config"))
	if err != nil {
		return err
	}
	mod.tls = tc
	*m = mod
	return nil
}

// checkOptions refuses a field the module's prober does not take; which
// prober takes which field is read from the protocol table.
func checkOptions(n *yaml.Node, pr *protocol) error {
	type rule struct {
		field string
		takes func(*protocol) bool
		note  string
	}
	lineBased := func(q *protocol) bool { return q.lineBased() }
	rules := []rule{
		{"tls", lineBased, "; http uses https:// URLs"},
		{"starttls", func(q *protocol) bool { return q.startTLS != nil }, "; a tcp dialogue has starttls steps"},
		{"tls_config", func(q *protocol) bool { return q.lineBased() || q.target == targetURL }, ""},
		{"dialogue", lineBased, ""},
	}
	for _, q := range protocols {
		for _, opt := range q.options {
			rules = append(rules, rule{opt, func(r *protocol) bool { return slices.Contains(r.options, opt) }, ""})
		}
	}
	for _, r := range rules {
		if fn := configfile.Field(n, r.field); fn != nil && !r.takes(pr) {
			return configfile.Errorf(fn, "%s does not apply to prober %s (only %s%s)", r.field, pr.name, proberNames(r.takes), r.note)
		}
	}
	return nil
}

func (h *HTTPOptions) setDefaults() {
	if h.Method == "" {
		h.Method = "GET"
	}
	if len(h.ValidStatusCodes) == 0 {
		h.ValidStatusCodes = StatusCodes{{200, 299}}
	}
	if h.FollowRedirects == nil {
		t := true
		h.FollowRedirects = &t
	}
}

// buildTLS makes the tls.Config a module's probes start from, with
// prometheus/common's NewTLSConfig. A ca_file is read first so that its
// error names the line; TLS 1.2 is the floor unless min_version says more.
func buildTLS(c TLSConfig, n *yaml.Node) (*tls.Config, error) {
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, configfile.Errorf(configfile.Field(n, "ca_file"), "read ca_file: %v", err)
		}
		if !x509.NewCertPool().AppendCertsFromPEM(pem) {
			return nil, configfile.Errorf(configfile.Field(n, "ca_file"), "ca_file %s holds no PEM certificate", c.CAFile)
		}
	}
	tc, err := config.NewTLSConfig(&c)
	if err != nil {
		return nil, configfile.Errorf(n, "tls_config: %v", err)
	}
	if tc.MinVersion < tls.VersionTLS12 {
		tc.MinVersion = tls.VersionTLS12
	}
	return tc, nil
}

func moduleNames(m map[string]Module) string {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	slices.Sort(names)
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}
