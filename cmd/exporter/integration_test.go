package main

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/synguard/synguard/internal/lab"
	"github.com/synguard/synguard/internal/prefix"
)

// floodLab runs functions of test/lab/synflood.sh for one namespace pair.
type floodLab struct {
	t   *testing.T
	env []string
}

func (l *floodLab) sh(script string) string {
	l.t.Helper()
	cmd := exec.Command("bash", "-c", "source ../../test/lab/synflood.sh && "+script)
	cmd.Env = append(os.Environ(), l.env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		l.t.Fatalf("%s: %v\n%s", script, err, out)
	}
	return string(out)
}

// skipUnlessLab skips, saying why, where real namespaces cannot be made.
func skipUnlessLab(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: not with -short")
	}
	lab.Need(t, "floods a victim network namespace with real SYNs", "ip", "nft", "tc", "ss", "curl", "go")
}

// ssCounts aggregates `ss -Htan state syn-recv` the way the exporter
// should: by source prefix (default lengths) and by local port.
func ssCounts(t *testing.T, out string) (prefixes map[string]float64, ports map[string]float64, sources map[string]float64) {
	t.Helper()
	prefixes, ports, sources = map[string]float64{}, map[string]float64{}, map[string]float64{}
	seen := map[netip.Addr]bool{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(line)
		if len(f) != 4 {
			t.Fatalf("unexpected ss line %q", line)
		}
		local, err := netip.ParseAddrPort(f[2])
		if err != nil {
			t.Fatalf("ss local %q: %v", f[2], err)
		}
		peer, err := netip.ParseAddrPort(f[3])
		if err != nil {
			t.Fatalf("ss peer %q: %v", f[3], err)
		}
		a := prefix.CanonicalAddr(peer.Addr())
		fam := prefix.Family(a)
		prefixes[fam+" "+prefix.DefaultLengths.Of(a).String()]++
		ports[strconv.Itoa(int(local.Port()))]++
		if !seen[a] {
			seen[a] = true
			sources[fam]++
		}
	}
	return prefixes, ports, sources
}

var (
	reSockets = regexp.MustCompile(`(?m)^synguard_syn_recv_sockets\{family="([^"]+)",prefix="([^"]+)"\} (\S+)$`)
	rePorts   = regexp.MustCompile(`(?m)^synguard_syn_recv_port_sockets\{port="([^"]+)"\} (\S+)$`)
	reSources = regexp.MustCompile(`(?m)^synguard_syn_recv_sources\{family="([^"]+)"\} (\S+)$`)
)

func metricMap(t *testing.T, re *regexp.Regexp, s string, skipZero bool) map[string]float64 {
	t.Helper()
	m := map[string]float64{}
	for _, g := range re.FindAllStringSubmatch(s, -1) {
		v, err := strconv.ParseFloat(g[len(g)-1], 64)
		if err != nil {
			t.Fatal(err)
		}
		if skipZero && v == 0 {
			continue
		}
		m[strings.Join(g[1:len(g)-1], " ")] = v
	}
	return m
}

// TestIntegrationSynFlood floods a victim namespace with real SYN_RECV
// sockets from several /27s, /64s and single hosts, IPv4 and IPv6, on :25
// and :587, and checks that both sources of the exporter, run inside the
// victim namespace, count exactly what ss shows there.
func TestIntegrationSynFlood(t *testing.T) {
	skipUnlessLab(t)
	dir := t.TempDir()
	bin := buildExporter(t)
	name := fmt.Sprintf("sga-it%d", os.Getpid()%100000)
	l := &floodLab{t: t, env: []string{"LAB_NAME=" + name, "LAB_STATE=" + filepath.Join(dir, "lab"), "LAB_LISTEN_SECONDS=600"}}
	t.Cleanup(func() { l.sh("lab_down") })
	l.sh("lab_up")

	floods := []struct {
		src   string
		count int
		port  int
	}{
		{"203.0.113.32/27", 700, 25},
		{"203.0.113.64/27", 400, 587},
		{"198.51.100.96/27", 300, 25},
		{"198.51.100.7", 250, 25},
		{"203.0.113.200", 150, 587},
		{"2001:db8:1::/122", 500, 25},
		{"2001:db8:1:2::/123", 200, 587},
		{"2001:db8:2::9", 150, 25},
	}
	total := 0
	var script []string
	for _, f := range floods {
		script = append(script, fmt.Sprintf("lab_flood %s %d %d", f.src, f.count, f.port))
		total += f.count
	}
	l.sh(strings.Join(script, " && ") + fmt.Sprintf(" && lab_wait_count %d 30", total))

	cfg := filepath.Join(dir, "exporter.yml")
	if err := os.WriteFile(cfg, []byte("syn_recv:\n  top_n: 50\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ports := map[string]string{"netlink": "19817", "procfs": "19818"}
	for src, port := range ports {
		l.sh(fmt.Sprintf("lab_vx_bg exporter-%s %s --config.file=%s --collector.syn-recv.source=%s --web.listen-address=127.0.0.1:%s",
			src, bin, cfg, src, port))
	}
	scrape := func(port, query string) string {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			out, err := exec.Command("ip", "netns", "exec", name+"-v", "curl", "-sfg", "http://127.0.0.1:"+port+"/metrics"+query).Output()
			if err == nil {
				return string(out)
			}
			if time.Now().After(deadline) {
				t.Fatalf("scrape :%s: %v", port, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	ss := l.sh("lab_vx ss -Htan state syn-recv")
	wantPrefixes, wantPorts, wantSources := ssCounts(t, ss)
	if len(wantPrefixes) != 8 {
		t.Fatalf("ss shows %d prefixes, want the 8 flooded ones:\n%v", len(wantPrefixes), wantPrefixes)
	}
	// The whole /metrics, and the 1 s job's fast path that runs the
	// syn_recv collector alone: both count what ss shows.
	for _, tc := range []struct{ src, query string }{
		{"netlink", ""}, {"procfs", ""}, {"netlink", "?collect[]=syn_recv"}, {"procfs", "?collect[]=syn_recv"},
	} {
		src := tc.src
		t.Run(src+tc.query, func(t *testing.T) {
			m := scrape(ports[src], tc.query)
			if tc.query != "" && strings.Contains(m, `collector="tcpext"`) {
				t.Errorf("%s ran tcpext:\n%s", tc.query, m)
			}
			if !strings.Contains(m, `synguard_scrape_collector_success{collector="syn_recv"} 1`) {
				t.Fatalf("syn_recv collector failed:\n%s", m)
			}
			if diff := cmp.Diff(wantPrefixes, metricMap(t, reSockets, m, true)); diff != "" {
				t.Errorf("per-prefix counts differ from ss (-ss +exporter):\n%s", diff)
			}
			gotPorts := metricMap(t, rePorts, m, true)
			if diff := cmp.Diff(wantPorts, gotPorts); diff != "" {
				t.Errorf("per-port counts differ from ss (-ss +exporter):\n%s", diff)
			}
			if diff := cmp.Diff(wantSources, metricMap(t, reSources, m, false)); diff != "" {
				t.Errorf("distinct sources differ from ss (-ss +exporter):\n%s", diff)
			}
		})
	}
	// The normal job's exclude[]=syn_recv runs the other collectors only.
	if m := scrape(ports["netlink"], "?exclude[]=syn_recv"); strings.Contains(m, "synguard_syn_recv_sockets") || !strings.Contains(m, "synguard_tcp_listen_drops_total") {
		t.Errorf("exclude[]=syn_recv:\n%s", m)
	}
	if n := strings.Count(strings.TrimSpace(ss), "\n") + 1; n != total {
		t.Errorf("ss shows %d sockets, %d were sent", n, total)
	}
}
