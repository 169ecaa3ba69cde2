// Command labconfig derives the whole-loop lab's Prometheus and Alertmanager
// configs from the project's shipped examples in deploy/, so the lab runs the
// configs an operator is told to install, changed only where a lab must
// differ: 1 s scrape and evaluation intervals, the lab's addresses, one
// target per victim with its host label, absolute rule paths, and the
// webhooks' bearer token file -token, the lab's (the responder refuses to
// start without one; without -token the webhooks lose their http_config).
// With -pki (the fleet lab, whose example serves TLS with client
// certificates) every tls_config also points at the lab's PKI
// (internal/lab/labpki) as client -client.
//
//	labconfig prometheus -in deploy/prometheus/prometheus.yml -rules DIR \
//	    -host victim1=203.0.113.9 [-host ...] -alertmanager 127.0.0.1:9093 [-interval 1s]
//	labconfig alertmanager -in deploy/alertmanager/alertmanager.yml \
//	    -host victim1=203.0.113.9 [-host ...] -token FILE
//	labconfig set -in examples/responder.yml -set host=victim1 \
//	    -set policy.block_duration.base=20s [-set ...] [-add origin.asn_database=PATH ...]
//	labconfig origin -dir DIR   # asn.mmdb and country.mmdb for the lab's ranges
//	labconfig prometheus|alertmanager ... -pki DIR -client NAME [-token FILE]
//	labconfig webconfig -in deploy/fleet/responder-web.yml -pki DIR -server victim1
//	labconfig pki -pki DIR -host victim1=203.0.113.9 [-host ...] -clients a,b  # internal/lab/labpki
package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/maxmind/mmdbwriter/mmdbtype"
	"gopkg.in/yaml.v3"

	"github.com/synguard/synguard/internal/lab/labpki"
	"github.com/synguard/synguard/internal/origin/origintest"
)

type hosts []struct{ name, addr string }

func (h *hosts) String() string { return fmt.Sprint(*h) }

func (h *hosts) Set(s string) error {
	name, addr, ok := strings.Cut(s, "=")
	if !ok || name == "" || net.ParseIP(addr) == nil {
		return fmt.Errorf("want NAME=IP, got %q", s)
	}
	*h = append(*h, struct{ name, addr string }{name, addr})
	return nil
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: labconfig prometheus|alertmanager [flags]")
		os.Exit(2)
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	in := fs.String("in", "", "shipped example config to derive from")
	rules := fs.String("rules", "", "directory of rule files (prometheus)")
	am := fs.String("alertmanager", "127.0.0.1:9093", "Alertmanager address(es), comma-separated (prometheus)")
	interval := fs.String("interval", "1s", "scrape and evaluation interval (prometheus)")
	var hs hosts
	fs.Var(&hs, "host", "NAME=IP of a victim (repeatable)")
	var sets, adds settings
	fs.Var(&sets, "set", "KEY.PATH=VALUE, VALUE read as YAML (set; repeatable)")
	fs.Var(&adds, "add", "KEY.PATH=VALUE for a key the shipped file leaves out or comments out (set; repeatable)")
	dir := fs.String("dir", "", "directory to write the databases to (origin)")
	var t tlsPaths
	fs.StringVar(&t.pki, "pki", "", "the lab's PKI directory: point every tls_config there (prometheus, alertmanager, webconfig)")
	fs.StringVar(&t.client, "client", "", "client certificate NAME.crt/NAME.key in -pki (prometheus, alertmanager)")
	fs.StringVar(&t.server, "server", "", "server certificate NAME.crt/NAME.key in -pki (webconfig)")
	fs.StringVar(&t.token, "token", "", "bearer token file of the webhooks (alertmanager; none, and no http_config without -pki, when empty)")
	clients := fs.String("clients", "", "client certificates to issue, comma-separated (pki)")
	fs.Parse(os.Args[2:])
	if os.Args[1] == "pki" {
		spec := labpki.Spec{}
		for _, h := range hs {
			spec.Servers = append(spec.Servers, labpki.Server{Name: h.name, IP: net.ParseIP(h.addr)})
		}
		if *clients != "" {
			spec.Clients = strings.Split(*clients, ",")
		}
		if t.pki == "" {
			fail(fmt.Errorf("pki: -pki is required"))
		}
		if err := labpki.Write(t.pki, spec); err != nil {
			fail(err)
		}
		return
	}
	if os.Args[1] == "origin" {
		if err := originDBs(*dir); err != nil {
			fail(err)
		}
		return
	}
	if *in == "" || (len(hs) == 0 && os.Args[1] != "set" && os.Args[1] != "webconfig") {
		fmt.Fprintln(os.Stderr, "labconfig: -in and at least one -host are required")
		os.Exit(2)
	}
	raw, err := os.ReadFile(*in)
	if err != nil {
		fail(err)
	}
	var cfg map[string]any
	if err := yaml.Unmarshal(raw, &cfg); err != nil {
		fail(fmt.Errorf("parse %s: %w", *in, err))
	}
	switch os.Args[1] {
	case "prometheus":
		err = prometheus(cfg, hs, *rules, strings.Split(*am, ","), *interval)
		if err == nil && t.pki != "" {
			err = t.clientTLS(cfg["scrape_configs"])
		}
	case "alertmanager":
		err = alertmanager(cfg, hs, t)
	case "webconfig":
		err = t.serverTLS(cfg)
	case "set":
		err = set(cfg, sets, false)
		if err == nil {
			err = set(cfg, adds, true)
		}
	default:
		err = fmt.Errorf("unknown config kind %q", os.Args[1])
	}
	if err != nil {
		fail(fmt.Errorf("derive from %s: %w", *in, err))
	}
	out, err := yaml.Marshal(cfg)
	if err != nil {
		fail(err)
	}
	fmt.Printf("# Derived by test/lab/cmd/labconfig from %s for the lab (its addresses, intervals and paths).\n%s", *in, out)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "labconfig:", err)
	os.Exit(1)
}

// Ports of the synguard jobs, by job name: the exporter's two jobs (the
// 1 s SYN_RECV job beside the normal one) scrape the same targets.
var jobPorts = map[string]string{"synguard-exporter": "9817", "synguard-exporter-syn-recv": "9817", "synguard-responder": "9818"}

// requiredJobs must be in every shipped config; the SYN_RECV job may be
// left out (then the normal exporter job takes every collector).
var requiredJobs = []string{"synguard-exporter", "synguard-responder"}

func prometheus(cfg map[string]any, hs hosts, rules string, ams []string, interval string) error {
	g, _ := cfg["global"].(map[string]any)
	if g == nil {
		g = map[string]any{}
		cfg["global"] = g
	}
	g["scrape_interval"], g["evaluation_interval"] = interval, interval
	if rules != "" {
		abs, err := filepath.Abs(rules)
		if err != nil {
			return err
		}
		var files []any
		for _, f := range asList(cfg["rule_files"]) {
			files = append(files, filepath.Join(abs, filepath.Base(fmt.Sprint(f))))
		}
		cfg["rule_files"] = files
	}
	cfg["alerting"] = map[string]any{"alertmanagers": []any{map[string]any{
		"static_configs": []any{map[string]any{"targets": toAny(ams)}}}}}
	found := map[string]bool{}
	for _, j := range asList(cfg["scrape_configs"]) {
		job, _ := j.(map[string]any)
		name := fmt.Sprint(job["job_name"])
		switch {
		case jobPorts[name] != "":
			found[name] = true
			var sc []any
			for _, h := range hs {
				sc = append(sc, map[string]any{
					"targets": []any{net.JoinHostPort(h.addr, jobPorts[name])},
					"labels":  map[string]any{"host": h.name},
				})
			}
			job["static_configs"] = sc
		case name == "alertmanager":
			job["static_configs"] = []any{map[string]any{"targets": toAny(ams)}}
		}
	}
	for _, name := range requiredJobs {
		if !found[name] {
			return fmt.Errorf("no scrape job %q", name)
		}
	}
	return nil
}

func alertmanager(cfg map[string]any, hs hosts, t tlsPaths) error {
	n := 0
	for _, r := range asList(cfg["receivers"]) {
		rc, _ := r.(map[string]any)
		if rc["name"] != "synguard-responder" {
			continue
		}
		wh := asList(rc["webhook_configs"])
		if len(wh) == 0 {
			return fmt.Errorf("receiver synguard-responder has no webhook_configs")
		}
		tmpl, _ := wh[0].(map[string]any)
		var out []any
		for _, h := range hs {
			w := map[string]any{}
			for k, v := range tmpl {
				w[k] = v
			}
			u := fmt.Sprint(tmpl["url"])
			// Keep the scheme and the path, change host:port.
			scheme, rest, ok := strings.Cut(u, "://")
			if !ok {
				return fmt.Errorf("webhook url %q has no scheme", u)
			}
			path := ""
			if i := strings.Index(rest, "/"); i >= 0 {
				path = rest[i:]
			}
			w["url"] = scheme + "://" + net.JoinHostPort(h.addr, jobPorts["synguard-responder"]) + path
			if t.pki == "" && t.token == "" {
				delete(w, "http_config")
			}
			out = append(out, w)
		}
		rc["webhook_configs"] = out
		if t.pki != "" {
			if err := t.clientTLS(out); err != nil {
				return err
			}
		}
		if t.pki != "" || t.token != "" {
			if err := t.tokenFile(out); err != nil {
				return err
			}
		}
		n++
	}
	if n == 0 {
		return fmt.Errorf("no receiver named synguard-responder")
	}
	return nil
}

func asList(v any) []any {
	l, _ := v.([]any)
	return l
}

func toAny(s []string) []any {
	var out []any
	for _, x := range s {
		out = append(out, x)
	}
	return out
}

type settings [][2]string

func (s *settings) String() string { return fmt.Sprint(*s) }

func (s *settings) Set(v string) error {
	k, val, ok := strings.Cut(v, "=")
	if !ok || k == "" {
		return fmt.Errorf("want KEY.PATH=VALUE, got %q", v)
	}
	*s = append(*s, [2]string{k, val})
	return nil
}

// set changes existing keys only: a key the shipped config lacks is an
// error, so a renamed knob cannot be set silently into nowhere. With add,
// missing sections and keys are created (for what the example comments out).
func set(cfg map[string]any, sets settings, add bool) error {
	for _, kv := range sets {
		path := strings.Split(kv[0], ".")
		m := cfg
		for _, k := range path[:len(path)-1] {
			next, ok := m[k].(map[string]any)
			if !ok && add && m[k] == nil {
				next, ok = map[string]any{}, true
				m[k] = next
			}
			if !ok {
				return fmt.Errorf("no section %q in key %s", k, kv[0])
			}
			m = next
		}
		last := path[len(path)-1]
		if _, ok := m[last]; !ok && !add {
			return fmt.Errorf("no key %s", kv[0])
		}
		var v any
		if err := yaml.Unmarshal([]byte(kv[1]), &v); err != nil {
			return fmt.Errorf("value of %s: %w", kv[0], err)
		}
		m[last] = v
	}
	return nil
}

// originDBs writes the lab's AS and country databases: each flooding /27 of
// the lab has its own AS in a country of its own; the control host's and the
// management ranges are left out, so they show as unknown.
func originDBs(dir string) error {
	if dir == "" {
		return fmt.Errorf("origin: -dir is required")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	err := origintest.WriteDB(filepath.Join(dir, "asn.mmdb"), "GeoLite2-ASN", map[string]mmdbtype.Map{
		"198.51.100.0/26":   origintest.ASN(64496, "Example Flood Net"),
		"198.51.100.64/26":  origintest.ASN(64497, "Example Bulletproof Hosting"),
		"198.51.100.128/25": origintest.ASN(64498, "Example Residential ISP"),
	})
	if err != nil {
		return fmt.Errorf("write ASN database: %w", err)
	}
	err = origintest.WriteDB(filepath.Join(dir, "country.mmdb"), "GeoLite2-Country", map[string]mmdbtype.Map{
		"198.51.100.0/26":   origintest.Country("ZZ"),
		"198.51.100.64/26":  origintest.Country("XA"),
		"198.51.100.128/25": origintest.Country("XB"),
	})
	if err != nil {
		return fmt.Errorf("write Country database: %w", err)
	}
	return nil
}
