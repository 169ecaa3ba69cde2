package probe

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/synguard/synguard/internal/configfile"
)

// Prober names: the value of a module's "prober" field.
const (
	ProberICMP = "icmp"
	ProberTCP  = "tcp"
	ProberSMTP = "smtp"
	ProberPOP3 = "pop3"
	ProberFTP  = "ftp"
	ProberHTTP = "http"
)

// Defaults applied where the config leaves a field out.
const (
	DefaultTimeout     = 5 * time.Second
	DefaultInterval    = 30 * time.Second
	DefaultConcurrency = 32
	DefaultEHLO        = "localhost"
)

var knownProbers = []string{ProberICMP, ProberTCP, ProberSMTP, ProberPOP3, ProberFTP, ProberHTTP}

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
	// Prober is one of icmp, tcp, smtp, pop3, ftp, http.
	Prober string `yaml:"prober"`
	// Timeout bounds one whole probe, resolution included.
	Timeout time.Duration `yaml:"timeout"`
	// IPProtocol is ip4 or ip6 to force a family; empty prefers IPv4 and
	// falls back to IPv6.
	IPProtocol string `yaml:"ip_protocol"`
	// TLS wraps the connection in TLS from the start (tcp, smtp, pop3, ftp:
	// implicit TLS such as ports 465, 995, 990).
	TLS bool `yaml:"tls"`
	// StartTLS upgrades in the dialogue: SMTP STARTTLS, POP3 STLS, FTP AUTH TLS.
	StartTLS bool `yaml:"starttls"`
	// TLSConfig verifies the server's certificate.
	TLSConfig TLSConfig `yaml:"tls_config"`
	// EHLO is the name the SMTP dialogue greets with.
	EHLO string `yaml:"ehlo"`
	// FTPLogin, when set, makes the FTP dialogue log in.
	FTPLogin *FTPLogin `yaml:"ftp_login"`
	// Dialogue replaces the built-in steps of smtp, pop3 and ftp, or gives a
	// tcp module a dialogue of its own.
	Dialogue []Step `yaml:"dialogue"`
	// HTTP holds the http prober's options.
	HTTP HTTPOptions `yaml:"http"`

	steps []Step      // the dialogue that runs: Dialogue or the built-in one
	tls   *tls.Config // built from TLSConfig; ServerName filled per target
}

// TLSConfig says how a probe verifies the server's certificate.
type TLSConfig struct {
	// InsecureSkipVerify accepts any certificate (expiry is still reported).
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
	// ServerName overrides the name checked against the certificate; the
	// target's host name is used otherwise.
	ServerName string `yaml:"server_name"`
	// CAFile is a PEM bundle to verify against instead of the system roots.
	CAFile string `yaml:"ca_file"`
}

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
	BodyRegexp *Regexp `yaml:"body_regexp"`
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
	Send     string  `yaml:"send"`
	Expect   *Regexp `yaml:"expect"`
	Skip     *Regexp `yaml:"skip"`
	StartTLS bool    `yaml:"starttls"`
}

// Target is one thing the scheduler probes.
type Target struct {
	// Module names the module in Config.Modules.
	Module string `yaml:"module"`
	// Target is host (icmp), host:port (tcp, smtp, pop3, ftp) or a URL (http).
	Target string `yaml:"target"`
	// Interval is the time between probes; 30s by default.
	Interval time.Duration `yaml:"interval"`

	moduleNode, targetNode, intervalNode *yaml.Node
}

// Regexp is a regular expression decoded from YAML, refused at load when it
// does not compile.
type Regexp struct {
	*regexp.Regexp
}

// MustRegexp compiles expr or panics; for tests and built-in dialogues.
func MustRegexp(expr string) *Regexp { return &Regexp{regexp.MustCompile(expr)} }

// UnmarshalYAML implements yaml.Unmarshaler.
func (r *Regexp) UnmarshalYAML(n *yaml.Node) error {
	var s string
	if err := n.Decode(&s); err != nil {
		return err
	}
	re, err := regexp.Compile(s)
	if err != nil {
		return configfile.Errorf(n, "regexp %q does not compile: %v", s, err)
	}
	r.Regexp = re
	return nil
}

// MarshalYAML implements yaml.Marshaler.
func (r Regexp) MarshalYAML() (any, error) { return r.String(), nil }

// StatusRange is an inclusive range of HTTP status codes.
type StatusRange struct{ Min, Max int }

// StatusCodes is a list of accepted HTTP status code ranges.
type StatusCodes []StatusRange

// Contains reports whether code is in one of the ranges.
func (s StatusCodes) Contains(code int) bool {
	for _, r := range s {
		if code >= r.Min && code <= r.Max {
			return true
		}
	}
	return false
}

// UnmarshalYAML implements yaml.Unmarshaler: items are 200, "2xx" or "200-299".
func (s *StatusCodes) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.SequenceNode {
		return configfile.Errorf(n, "valid_status_codes must be a list such as [200, \"3xx\", \"400-404\"]")
	}
	out := StatusCodes{}
	for _, item := range n.Content {
		r, err := parseStatusRange(item.Value)
		if err != nil {
			return configfile.Errorf(item, "%v", err)
		}
		out = append(out, r)
	}
	*s = out
	return nil
}

func parseStatusRange(v string) (StatusRange, error) {
	bad := fmt.Errorf("status code %q is not a code, \"Nxx\" or \"A-B\" between 100 and 599", v)
	code := func(s string) (int, bool) {
		c, err := strconv.Atoi(s)
		return c, err == nil && c >= 100 && c <= 599
	}
	switch {
	case len(v) == 3 && strings.HasSuffix(v, "xx"):
		c, ok := code(v[:1] + "00")
		if !ok {
			return StatusRange{}, bad
		}
		return StatusRange{c, c + 99}, nil
	case strings.Contains(v, "-"):
		a, b, _ := strings.Cut(v, "-")
		lo, ok1 := code(strings.TrimSpace(a))
		hi, ok2 := code(strings.TrimSpace(b))
		if !ok1 || !ok2 || lo > hi {
			return StatusRange{}, bad
		}
		return StatusRange{lo, hi}, nil
	default:
		c, ok := code(v)
		if !ok {
			return StatusRange{}, bad
		}
		return StatusRange{c, c}, nil
	}
}

// UnmarshalYAML implements yaml.Unmarshaler: it sets defaults, refuses
// unknown fields and checks each target against its module.
func (c *Config) UnmarshalYAML(n *yaml.Node) error {
	type plain Config
	p := plain{}
	if err := strictDecode(n, &p, "probe.Config"); err != nil {
		return err
	}
	if p.Concurrency < 0 {
		return configfile.Errorf(fieldNode(n, "concurrency"), "concurrency must not be negative, got %d", p.Concurrency)
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
			return configfile.Errorf(orNode(t.intervalNode, t.targetNode), "interval %s is shorter than module %q's timeout %s", t.Interval, t.Module, m.Timeout)
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
	if err := strictDecode(n, &p, "probe.Target"); err != nil {
		return err
	}
	p.moduleNode, p.targetNode, p.intervalNode = fieldNode(n, "module"), fieldNode(n, "target"), fieldNode(n, "interval")
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
	if err := strictDecode(n, &p, "probe.Step"); err != nil {
		return err
	}
	if p.Send == "" && p.Expect == nil && !p.StartTLS {
		return configfile.Errorf(n, "dialogue step needs send, expect or starttls")
	}
	if p.Skip != nil && p.Expect == nil {
		return configfile.Errorf(fieldNode(n, "skip"), "skip needs expect in the same step")
	}
	if strings.ContainsAny(p.Send, "\r\n") {
		return configfile.Errorf(fieldNode(n, "send"), "send is one line: CRLF is added, do not include line breaks")
	}
	*s = Step(p)
	return nil
}

// UnmarshalYAML implements yaml.Unmarshaler: defaults first, then checks
// that options fit the prober, then builds the dialogue and TLS config.
func (m *Module) UnmarshalYAML(n *yaml.Node) error {
	type plain Module
	p := plain{Timeout: DefaultTimeout}
	if err := strictDecode(n, &p, "probe.Module"); err != nil {
		return err
	}
	if !contains(knownProbers, p.Prober) {
		return configfile.Errorf(orNode(fieldNode(n, "prober"), n), "unknown prober %q (known: %s)", p.Prober, strings.Join(knownProbers, ", "))
	}
	if p.Timeout <= 0 {
		return configfile.Errorf(fieldNode(n, "timeout"), "timeout must be positive, got %s", p.Timeout)
	}
	if p.IPProtocol != "" && p.IPProtocol != "ip4" && p.IPProtocol != "ip6" {
		return configfile.Errorf(fieldNode(n, "ip_protocol"), "ip_protocol must be ip4 or ip6, got %q", p.IPProtocol)
	}
	only := func(field string, ok bool, probers string) error {
		if fn := fieldNode(n, field); fn != nil && !ok {
			return configfile.Errorf(fn, "%s does not apply to prober %s (only %s)", field, p.Prober, probers)
		}
		return nil
	}
	dialogueProber := p.Prober == ProberTCP || p.Prober == ProberSMTP || p.Prober == ProberPOP3 || p.Prober == ProberFTP
	for _, err := range []error{
		only("tls", dialogueProber, "tcp, smtp, pop3, ftp; http uses https:// URLs"),
		only("starttls", p.Prober == ProberSMTP || p.Prober == ProberPOP3 || p.Prober == ProberFTP, "smtp, pop3, ftp; a tcp dialogue has starttls steps"),
		only("tls_config", dialogueProber || p.Prober == ProberHTTP, "tcp, smtp, pop3, ftp, http"),
		only("ehlo", p.Prober == ProberSMTP, "smtp"),
		only("ftp_login", p.Prober == ProberFTP, "ftp"),
		only("dialogue", dialogueProber, "tcp, smtp, pop3, ftp"),
		only("http", p.Prober == ProberHTTP, "http"),
	} {
		if err != nil {
			return err
		}
	}
	if p.TLS && p.StartTLS {
		return configfile.Errorf(fieldNode(n, "starttls"), "tls (implicit TLS) and starttls exclude each other")
	}
	if p.EHLO == "" {
		p.EHLO = DefaultEHLO
	}
	if p.FTPLogin != nil && p.FTPLogin.Username == "" {
		return configfile.Errorf(fieldNode(n, "ftp_login"), "ftp_login needs a username (\"anonymous\" for anonymous FTP)")
	}
	if p.Prober == ProberHTTP {
		h := &p.HTTP
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
	if len(p.Dialogue) > 0 && p.StartTLS {
		return configfile.Errorf(fieldNode(n, "starttls"), "starttls applies to the built-in dialogue; with dialogue, write a starttls step")
	}
	mod := Module(p)
	mod.steps = builtinDialogue(&mod)
	tc := &tls.Config{InsecureSkipVerify: p.TLSConfig.InsecureSkipVerify, ServerName: p.TLSConfig.ServerName, MinVersion: tls.VersionTLS12}
	if p.TLSConfig.CAFile != "" {
		pem, err := os.ReadFile(p.TLSConfig.CAFile)
		if err != nil {
			return configfile.Errorf(fieldNode(fieldNode(n, "tls_config"), "ca_file"), "read ca_file: %v", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return configfile.Errorf(fieldNode(fieldNode(n, "tls_config"), "ca_file"), "ca_file %s holds no PEM certificate", p.TLSConfig.CAFile)
		}
		tc.RootCAs = pool
	}
	mod.tls = tc
	*m = mod
	return nil
}

// builtinDialogue returns the steps a module runs: its own Dialogue, or the
// protocol's usual exchange built from its options.
func builtinDialogue(m *Module) []Step {
	if len(m.Dialogue) > 0 {
		return m.Dialogue
	}
	reply := func(code string) (*Regexp, *Regexp) {
		return MustRegexp("^" + code + " "), MustRegexp("^" + code + "-")
	}
	var s []Step
	switch m.Prober {
	case ProberSMTP:
		e220, s220 := reply("220")
		e250, s250 := reply("250")
		ehlo := Step{Send: "EHLO " + m.EHLO, Expect: e250, Skip: s250}
		s = append(s, Step{Expect: e220, Skip: s220}, ehlo)
		if m.StartTLS {
			s = append(s, Step{Send: "STARTTLS", Expect: e220, StartTLS: true}, ehlo)
		}
		s = append(s, Step{Send: "QUIT"})
	case ProberPOP3:
		ok := MustRegexp(`^\+OK`)
		s = append(s, Step{Expect: ok})
		if m.StartTLS {
			s = append(s, Step{Send: "STLS", Expect: ok, StartTLS: true})
		}
		s = append(s, Step{Send: "QUIT"})
	case ProberFTP:
		e220, s220 := reply("220")
		s = append(s, Step{Expect: e220, Skip: s220})
		if m.StartTLS {
			e234, _ := reply("234")
			s = append(s, Step{Send: "AUTH TLS", Expect: e234, StartTLS: true})
		}
		if l := m.FTPLogin; l != nil {
			e230, s230 := reply("230")
			e331, _ := reply("331")
			s = append(s, Step{Send: "USER " + l.Username, Expect: e331},
				Step{Send: "PASS " + l.Password, Expect: e230, Skip: s230})
		}
		s = append(s, Step{Send: "QUIT"})
	}
	return s
}

// CheckTarget reports whether target has the form prober expects.
func CheckTarget(prober, target string) error {
	switch prober {
	case ProberICMP:
		if !validHost(target) {
			return fmt.Errorf("icmp target %q is not a host name or IP address (no port, no URL)", target)
		}
	case ProberTCP, ProberSMTP, ProberPOP3, ProberFTP:
		_, _, err := splitHostPort(target)
		if err != nil {
			return fmt.Errorf("%s target %q: %v", prober, target, err)
		}
	case ProberHTTP:
		u, err := url.Parse(target)
		if err != nil {
			return fmt.Errorf("http target %q is not a URL: %v", target, err)
		}
		if u.Scheme != "http" && u.Scheme != "https" {
			return fmt.Errorf("http target %q needs an http:// or https:// URL", target)
		}
		if !validHost(u.Hostname()) {
			return fmt.Errorf("http target %q has no valid host", target)
		}
		if p := u.Port(); p != "" {
			if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
				return fmt.Errorf("http target %q has port %q out of range 1..65535", target, p)
			}
		}
	default:
		return fmt.Errorf("unknown prober %q", prober)
	}
	return nil
}

func splitHostPort(target string) (string, uint16, error) {
	host, port, err := net.SplitHostPort(target)
	if err != nil {
		return "", 0, fmt.Errorf("want host:port ([v6]:port for IPv6): %v", err)
	}
	if !validHost(host) {
		return "", 0, fmt.Errorf("%q is not a host name or IP address", host)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return "", 0, fmt.Errorf("port %q is not a number in 1..65535", port)
	}
	return host, uint16(n), nil
}

// validHost accepts an IP literal or an RFC 1123 host name.
func validHost(h string) bool {
	if _, err := netip.ParseAddr(h); err == nil {
		return true
	}
	if h == "" || len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(strings.TrimSuffix(h, "."), ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
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

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// fieldNode returns the value node of key in mapping n, or nil.
func fieldNode(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

func orNode(a, b *yaml.Node) *yaml.Node {
	if a != nil {
		return a
	}
	return b
}

var unmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()

// strictDecode decodes n into out and refuses keys out's type does not have.
// yaml.v3's KnownFields does not reach into a custom UnmarshalYAML (the
// node's own Decode is lenient), so each level checks its keys itself.
func strictDecode(n *yaml.Node, out any, name string) error {
	if err := checkKnown(n, reflect.TypeOf(out).Elem(), name); err != nil {
		return err
	}
	return n.Decode(out)
}

func checkKnown(n *yaml.Node, t reflect.Type, name string) error {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n == nil {
		return nil
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if name == "" && reflect.PointerTo(t).Implements(unmarshalerType) {
		return nil // it checks itself
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return nil // Decode reports the type mistake
		}
		fields := map[string]reflect.Type{}
		if name == "" {
			name = t.Name()
		}
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			key, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if key == "-" {
				continue
			}
			if key == "" {
				key = strings.ToLower(f.Name)
			}
			fields[key] = f.Type
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			ft, ok := fields[n.Content[i].Value]
			if !ok {
				return configfile.Errorf(n.Content[i], "field %s not found in type %s", n.Content[i].Value, name)
			}
			if err := checkKnown(n.Content[i+1], ft, ""); err != nil {
				return err
			}
		}
	case reflect.Slice:
		if n.Kind == yaml.SequenceNode {
			for _, c := range n.Content {
				if err := checkKnown(c, t.Elem(), ""); err != nil {
					return err
				}
			}
		}
	case reflect.Map:
		if n.Kind == yaml.MappingNode {
			for i := 1; i < len(n.Content); i += 2 {
				if err := checkKnown(n.Content[i], t.Elem(), ""); err != nil {
					return err
				}
			}
		}
	}
	return nil
}
