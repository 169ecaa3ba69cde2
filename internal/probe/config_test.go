package probe

import (
	"crypto/tls"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/synguard/synguard/internal/configfile"
)

func decode(yml string) (Config, error) {
	var c struct {
		Probes Config `yaml:"probes"`
	}
	err := configfile.Decode("probes.yml", []byte(yml), &c)
	return c.Probes, err
}

func TestConfigValid(t *testing.T) {
	cfg, err := decode(`probes:
  modules:
    ping: {prober: icmp}
    smtp_starttls:
      prober: smtp
      timeout: 3s
      starttls: true
      ehlo: probe.example.org
    web:
      prober: http
      http:
        valid_status_codes: [200, "3xx", "401-403"]
        body_regexp: "ok"
  targets:
    - {module: ping, target: 192.0.2.1, interval: 10s}
    - {module: smtp_starttls, target: "mail.example.org:25"}
    - {module: web, target: "https://[2001:db8::1]:8443/health"}
`)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Concurrency != DefaultConcurrency {
		t.Errorf("concurrency = %d, want default %d", cfg.Concurrency, DefaultConcurrency)
	}
	if m := cfg.Modules["ping"]; m.Timeout != DefaultTimeout {
		t.Errorf("default timeout = %s", m.Timeout)
	}
	if got := cfg.Targets[1].Interval; got != DefaultInterval {
		t.Errorf("default interval = %s", got)
	}
	web := cfg.Modules["web"]
	for code, want := range map[int]bool{200: true, 201: false, 302: true, 402: true, 404: false} {
		if web.HTTP.ValidStatusCodes.Contains(code) != want {
			t.Errorf("status %d accepted = %v, want %v", code, !want, want)
		}
	}
	if !*web.HTTP.FollowRedirects || web.HTTP.Method != "GET" {
		t.Errorf("http defaults: %+v", web.HTTP)
	}
	smtp := cfg.Modules["smtp_starttls"]
	var sends []string
	for _, s := range smtp.steps {
		sends = append(sends, s.Send)
	}
	if got, want := strings.Join(sends, "|"), "|EHLO probe.example.org|STARTTLS|EHLO probe.example.org|QUIT"; got != want {
		t.Errorf("smtp dialogue sends %q, want %q", got, want)
	}
	if smtp.Timeout.Std() != 3*time.Second {
		t.Errorf("timeout = %s", smtp.Timeout)
	}
}

// TestConfigPrometheusDurations: durations read as the responder's and
// Prometheus's do, days and compounds included (before the shared
// configfile.Duration, "1d" was refused here and accepted there).
func TestConfigPrometheusDurations(t *testing.T) {
	cfg, err := decode(`probes:
  modules:
    slow: {prober: tcp, timeout: 1h30m}
    quick: {prober: tcp, timeout: 500ms}
  targets:
    - {module: slow, target: "a:1", interval: 1d}
    - {module: slow, target: "b:1", interval: 7d}
    - {module: quick, target: "c:1", interval: 1m30s}
`)
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Modules["slow"].Timeout.Std(); got != 90*time.Minute {
		t.Errorf("timeout 1h30m = %s", got)
	}
	if got := cfg.Modules["quick"].Timeout.Std(); got != 500*time.Millisecond {
		t.Errorf("timeout 500ms = %s", got)
	}
	for i, want := range []time.Duration{24 * time.Hour, 7 * 24 * time.Hour, 90 * time.Second} {
		if got := cfg.Targets[i].Interval.Std(); got != want {
			t.Errorf("target %d interval = %s, want %s", i, got, want)
		}
	}
}

// TestConfigInvalid: every mistake is refused with file, line and reason.
func TestConfigInvalid(t *testing.T) {
	missingCA := filepath.Join(t.TempDir(), "nope.pem")
	notPEM := filepath.Join(t.TempDir(), "x.pem")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	const head = "probes:\n  modules:\n    tcp: {prober: tcp}\n"
	tests := []struct{ name, in, want string }{
		{"unknown module", head + "  targets:\n    - module: tpc\n      target: a:1\n",
			`probes.yml:5: target "a:1" uses unknown module "tpc" (known: tcp)`},
		{"unknown prober", "probes:\n  modules:\n    x:\n      prober: gopher\n",
			`probes.yml:4: unknown prober "gopher" (known: icmp, tcp, smtp, pop3, imap, ftp, http)`},
		{"zero timeout", "probes:\n  modules:\n    x:\n      prober: tcp\n      timeout: 0s\n",
			"probes.yml:5: timeout must be positive, got 0s"},
		{"negative timeout", "probes:\n  modules:\n    x:\n      prober: tcp\n      timeout: -1s\n",
			`probes.yml:5: "-1s" is not a duration such as 90s, 1h or 7d`},
		{"fractional interval", head + "  targets:\n    - module: tcp\n      target: a:1\n      interval: 1.5s\n",
			`probes.yml:7: "1.5s" is not a duration such as 90s, 1h or 7d`},
		{"zero interval", head + "  targets:\n    - module: tcp\n      target: a:1\n      interval: 0s\n",
			"probes.yml:7: interval must be positive, got 0s"},
		{"interval below timeout", head + "  targets:\n    - module: tcp\n      target: a:1\n      interval: 1s\n",
			`probes.yml:7: interval 1s is shorter than module "tcp"'s timeout 5s`},
		{"bad regexp", "probes:\n  modules:\n    w:\n      prober: http\n      http:\n        body_regexp: \"(unclosed\"\n",
			"probes.yml:6: bad regular expression \"(unclosed\": error parsing regexp: missing closing ): `(unclosed`"},
		{"bad dialogue regexp", "probes:\n  modules:\n    w:\n      prober: tcp\n      dialogue:\n        - expect: \"[\"\n",
			"probes.yml:6: bad regular expression \"[\": error parsing regexp: missing closing ]: `[`"},
		{"target without port", head + "  targets:\n    - module: tcp\n      target: mail.example.org\n",
			`probes.yml:6: tcp target "mail.example.org": want host:port ([v6]:port for IPv6): address mail.example.org: missing port in address`},
		{"target bad port", head + "  targets:\n    - module: tcp\n      target: a:99999\n",
			`probes.yml:6: tcp target "a:99999": port "99999" is not a number in 1..65535`},
		{"icmp target with port", "probes:\n  modules:\n    p: {prober: icmp}\n  targets:\n    - {module: p, target: \"192.0.2.1:7\"}\n",
			`probes.yml:5: icmp target "192.0.2.1:7" is not a host name or IP address (no port, no URL)`},
		{"http target of another scheme", "probes:\n  modules:\n    w: {prober: http}\n  targets:\n    - {module: w, target: \"ftp://example.org\"}\n",
			`probes.yml:5: http target "ftp://example.org" needs an http:// or https:// URL`},
		{"bad host", head + "  targets:\n    - {module: tcp, target: \"bad host!:25\"}\n",
			`probes.yml:5: tcp target "bad host!:25": "bad host!" is not a host name or IP address`},
		{"duplicate target", head + "  targets:\n    - {module: tcp, target: \"a:1\"}\n    - {module: tcp, target: \"a:1\"}\n",
			`probes.yml:6: target "a:1" with module "tcp" is listed twice`},
		{"unknown field", "probes:\n  modules:\n    x:\n      prober: tcp\n      timout: 1s\n",
			"probes.yml:5: field timout not found in type probe.Module"},
		{"unknown nested field", "probes:\n  modules:\n    x:\n      prober: http\n      http:\n        status: [200]\n",
			"probes.yml:6: field status not found in type HTTPOptions"},
		{"unknown target field", head + "  targets:\n    - {module: tcp, target: \"a:1\", every: 5s}\n",
			"probes.yml:5: field every not found in type probe.Target"},
		{"option of another prober", "probes:\n  modules:\n    x:\n      prober: http\n      starttls: true\n",
			"probes.yml:5: starttls does not apply to prober http (only smtp, pop3, imap, ftp; a tcp dialogue has starttls steps)"},
		{"smtp option on imap", "probes:\n  modules:\n    x:\n      prober: imap\n      ehlo: me.example.org\n",
			"probes.yml:5: ehlo does not apply to prober imap (only smtp)"},
		{"ftp option on imap", "probes:\n  modules:\n    x:\n      prober: imap\n      ftp_login: {username: a}\n",
			"probes.yml:5: ftp_login does not apply to prober imap (only ftp)"},
		{"tls_config on icmp", "probes:\n  modules:\n    x:\n      prober: icmp\n      tls_config: {insecure_skip_verify: true}\n",
			"probes.yml:5: tls_config does not apply to prober icmp (only tcp, smtp, pop3, imap, ftp, http)"},
		{"dialogue on http", "probes:\n  modules:\n    x:\n      prober: http\n      dialogue: [{send: x}]\n",
			"probes.yml:5: dialogue does not apply to prober http (only tcp, smtp, pop3, imap, ftp)"},
		{"imap target without port", "probes:\n  modules:\n    i: {prober: imap}\n  targets:\n    - {module: i, target: mail.example.org}\n",
			`probes.yml:5: imap target "mail.example.org": want host:port ([v6]:port for IPv6): address mail.example.org: missing port in address`},
		{"tls and starttls", "probes:\n  modules:\n    x:\n      prober: smtp\n      tls: true\n      starttls: true\n",
			"probes.yml:6: tls (implicit TLS) and starttls exclude each other"},
		{"bad status code", "probes:\n  modules:\n    x:\n      prober: http\n      http:\n        valid_status_codes: [200, 700]\n",
			`probes.yml:6: status code "700" is not a code, "Nxx" or "A-B" between 100 and 599`},
		{"empty step", "probes:\n  modules:\n    x:\n      prober: tcp\n      dialogue:\n        - {}\n",
			"probes.yml:6: dialogue step needs send, expect or starttls"},
		{"send with newline", "probes:\n  modules:\n    x:\n      prober: tcp\n      dialogue:\n        - send: \"a\\r\\nb\"\n",
			"probes.yml:6: send is one line: CRLF is added, do not include line breaks"},
		{"missing ca file", "probes:\n  modules:\n    x:\n      prober: tcp\n      tls_config:\n        ca_file: " + missingCA + "\n",
			"probes.yml:6: read ca_file: open " + missingCA + ": no such file or directory"},
		{"ca file not pem", "probes:\n  modules:\n    x:\n      prober: tcp\n      tls_config:\n        ca_file: " + notPEM + "\n",
			"probes.yml:6: ca_file " + notPEM + " holds no PEM certificate"},
		{"negative concurrency", "probes:\n  concurrency: -1\n", "probes.yml:2: concurrency must not be negative, got -1"},
		{"bad ip_protocol", "probes:\n  modules:\n    x:\n      prober: icmp\n      ip_protocol: ipv4\n",
			`probes.yml:5: ip_protocol must be ip4 or ip6, got "ipv4"`},
		{"ftp login without user", "probes:\n  modules:\n    x:\n      prober: ftp\n      ftp_login: {password: x}\n",
			`probes.yml:5: ftp_login needs a username ("anonymous" for anonymous FTP)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := decode(tt.in)
			if err == nil || err.Error() != tt.want {
				t.Fatalf("error = %v\n want %s", err, tt.want)
			}
		})
	}
}

// TestTLSConfigIsPrometheus: tls_config is prometheus/common's TLSConfig,
// so its fields and checks are Prometheus's (and blackbox's): min_version,
// client certificates, and their consistency.
func TestTLSConfigIsPrometheus(t *testing.T) {
	m := module(t, "prober: tcp\ntls: true\ntls_config: {min_version: TLS13, server_name: mail.example}\n")
	if m.tls.MinVersion != tls.VersionTLS13 || m.tls.ServerName != "mail.example" {
		t.Errorf("min_version TLS13, server_name: got %x %q", m.tls.MinVersion, m.tls.ServerName)
	}
	if m := module(t, "prober: tcp\ntls: true\n"); m.tls.MinVersion != tls.VersionTLS12 {
		t.Errorf("default floor: %x, want TLS 1.2", m.tls.MinVersion)
	}
	for yml, want := range map[string]string{
		"probes:\n  modules:\n    x:\n      prober: tcp\n      tls_config: {cert_file: /nonexistent.pem}\n": "exactly one of key or key_file",
		"probes:\n  modules:\n    x:\n      prober: tcp\n      tls_config: {min_version: TLS99}\n":          "unknown TLS version",
	} {
		_, err := decode(yml)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want an error with %q", yml, err, want)
		}
	}
}
