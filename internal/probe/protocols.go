package probe

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"

	"github.com/synguard/synguard/internal/configfile"
)

// Prober names: the value of a module's "prober" field.
const (
	ProberICMP = "icmp"
	ProberTCP  = "tcp"
	ProberSMTP = "smtp"
	ProberPOP3 = "pop3"
	ProberIMAP = "imap"
	ProberFTP  = "ftp"
	ProberHTTP = "http"
)

// targetKind is the form of a protocol's targets.
type targetKind int

const (
	targetHost     targetKind = iota // a host name or IP address (icmp)
	targetHostPort                   // host:port, [v6]:port
	targetURL                        // an http:// or https:// URL, or host:port read as http://host:port
)

// protocol is everything the package knows about one prober. Adding a
// protocol is adding one entry to protocols: the config checks, the target
// check, the dialogue and the probe itself all read this table.
type protocol struct {
	name   string
	target targetKind
	// run probes one target; nil for the line-based protocols, which connect
	// (with implicit TLS when asked) and run the module's dialogue.
	run func(p *Prober, ctx context.Context, m *Module, target string, tr *trace) error
	// dialogue builds the protocol's own exchange from the module's options;
	// nil where there is none (icmp, http, and tcp, whose dialogue is only
	// what the module writes).
	dialogue func(m *Module) exchange
	// startTLS asks the server to upgrade and waits for its go-ahead; the
	// handshake follows. Nil when the protocol has no STARTTLS.
	startTLS *Step
	// options are the module fields only this protocol takes.
	options []string
}

// exchange is a protocol's built-in dialogue, in the parts a STARTTLS
// upgrade fits between: banner, hello, [startTLS, hello again], then, quit.
type exchange struct {
	banner Step   // what the server opens with
	hello  []Step // asked again after an upgrade: the answer over TLS may differ
	then   []Step // once, after hello (and the upgrade): FTP's login
	quit   Step   // the goodbye; its answer is not waited for
}

// protocols is the table of probers, in the order errors and docs list them.
var protocols = []protocol{
	{name: ProberICMP, target: targetHost, run: (*Prober).probeICMP},
	{name: ProberTCP, target: targetHostPort},
	{name: ProberSMTP, target: targetHostPort, dialogue: smtpExchange, options: []string{"ehlo"},
		startTLS: &Step{Send: "STARTTLS", Expect: reply("220")}},
	{name: ProberPOP3, target: targetHostPort, dialogue: pop3Exchange,
		startTLS: &Step{Send: "STLS", Expect: pop3OK}},
	{name: ProberIMAP, target: targetHostPort, dialogue: imapExchange,
		startTLS: &Step{Send: "a2 STARTTLS", Expect: imapOK("a2")}},
	{name: ProberFTP, target: targetHostPort, dialogue: ftpExchange, options: []string{"ftp_login"},
		startTLS: &Step{Send: "AUTH TLS", Expect: reply("234")}},
	{name: ProberHTTP, target: targetURL, run: (*Prober).probeHTTP, options: []string{"http"}},
}

// lookup returns the protocol named name, or nil.
func lookup(name string) *protocol {
	for i := range protocols {
		if protocols[i].name == name {
			return &protocols[i]
		}
	}
	return nil
}

// proberNames lists the protocols whose entry satisfies keep (all when keep
// is nil), comma-separated: the "known:" and "only" lists of errors.
func proberNames(keep func(*protocol) bool) string {
	var names []string
	for i := range protocols {
		if keep == nil || keep(&protocols[i]) {
			names = append(names, protocols[i].name)
		}
	}
	return strings.Join(names, ", ")
}

// lineBased reports whether the protocol runs the dialogue engine.
func (pr *protocol) lineBased() bool { return pr.run == nil }

// steps returns the dialogue a module runs: its own Dialogue, or the
// protocol's exchange with the STARTTLS upgrade where the module asks for it.
func (pr *protocol) steps(m *Module) []Step {
	if len(m.Dialogue) > 0 || pr.dialogue == nil {
		return m.Dialogue
	}
	x := pr.dialogue(m)
	s := append([]Step{x.banner}, x.hello...)
	if m.StartTLS {
		up := *pr.startTLS
		up.StartTLS = true
		s = append(append(s, up), x.hello...)
	}
	return append(append(s, x.then...), x.quit)
}

// reply matches a final reply line of a numeric protocol (SMTP, FTP):
// "220 ..."; continuation lines ("220-...") are passed over.
func reply(code string) *configfile.Regexp { return configfile.MustRegexp("^" + code + " ") }

// more matches a continuation line of a numeric reply.
func more(code string) *configfile.Regexp { return configfile.MustRegexp("^" + code + "-") }

var pop3OK = configfile.MustRegexp(`^\+OK`)

// imapOK matches the tagged OK that ends an IMAP command; untagged lines
// ("* CAPABILITY ...") before it are passed over, and a tagged NO or BAD
// fails the probe at once.
func imapOK(tag string) *configfile.Regexp { return configfile.MustRegexp("^" + tag + ` OK\b`) }

var imapUntagged = configfile.MustRegexp(`^\* `)

func smtpExchange(m *Module) exchange {
	return exchange{
		banner: Step{Expect: reply("220"), Skip: more("220")},
		hello:  []Step{{Send: "EHLO " + m.EHLO, Expect: reply("250"), Skip: more("250")}},
		quit:   Step{Send: "QUIT"},
	}
}

func pop3Exchange(*Module) exchange {
	return exchange{banner: Step{Expect: pop3OK}, quit: Step{Send: "QUIT"}}
}

// imapExchange: tags are unique within each TLS session; the CAPABILITY
// asked again after STARTTLS opens a new one (RFC 9051 6.2.1: the client
// must forget what it learnt before the upgrade).
func imapExchange(*Module) exchange {
	return exchange{
		banner: Step{Expect: configfile.MustRegexp(`^\* OK\b`)},
		hello:  []Step{{Send: "a1 CAPABILITY", Expect: imapOK("a1"), Skip: imapUntagged}},
		quit:   Step{Send: "a3 LOGOUT"},
	}
}

func ftpExchange(m *Module) exchange {
	x := exchange{banner: Step{Expect: reply("220"), Skip: more("220")}, quit: Step{Send: "QUIT"}}
	if l := m.FTPLogin; l != nil {
		x.then = []Step{{Send: "USER " + l.Username, Expect: reply("331")},
			{Send: "PASS " + l.Password, Expect: reply("230"), Skip: more("230")}}
	}
	return x
}

// CheckTarget reports whether target has the form prober expects.
func CheckTarget(prober, target string) error {
	pr := lookup(prober)
	if pr == nil {
		return fmt.Errorf("unknown prober %q", prober)
	}
	switch pr.target {
	case targetHost:
		if !validHost(target) {
			return fmt.Errorf("%s target %q is not a host name or IP address (no port, no URL)", prober, target)
		}
	case targetHostPort:
		if _, _, err := splitHostPort(target); err != nil {
			return fmt.Errorf("%s target %q: %v", prober, target, err)
		}
	case targetURL:
		return checkURL(prober, httpURL(target))
	}
	return nil
}

func checkURL(prober, target string) error {
	u, err := url.Parse(target)
	if err != nil {
		return fmt.Errorf("%s target %q is not a URL: %v", prober, target, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("%s target %q needs an http:// or https:// URL", prober, target)
	}
	if !validHost(u.Hostname()) {
		return fmt.Errorf("%s target %q has no valid host", prober, target)
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("%s target %q has port %q out of range 1..65535", prober, target, p)
		}
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
