package main

import (
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// familiesOf returns the metric names and the collector label values of
// synguard_scrape_collector_success in an exposition.
func familiesOf(body string) (names, collectors []string) {
	for _, m := range regexp.MustCompile(`(?m)^# TYPE (\S+) `).FindAllStringSubmatch(body, -1) {
		names = append(names, m[1])
	}
	for _, m := range regexp.MustCompile(`(?m)^synguard_scrape_collector_success\{collector="([^"]+)"\}`).FindAllStringSubmatch(body, -1) {
		collectors = append(collectors, m[1])
	}
	return names, collectors
}

// TestCollectorFilter scrapes a running exporter (the whole program on the
// fixture procfs) with collect[] and exclude[]: the 1 s job's fast path
// and the normal job beside it, which together must serve every family of
// the unfiltered /metrics exactly once.
func TestCollectorFilter(t *testing.T) {
	d := startExporter(t, append(fixtureArgs("testdata/proc"), "--web.listen-address=127.0.0.1:0")...)
	all, allCollectors := familiesOf(d.Get(t, "/metrics"))
	if !slices.Equal(allCollectors, []string{"probe", "syn_recv", "tcpext"}) {
		t.Fatalf("unfiltered collectors %v", allCollectors)
	}

	fast := d.Get(t, "/metrics?collect[]=syn_recv")
	fastNames, fastCollectors := familiesOf(fast)
	if !slices.Equal(fastCollectors, []string{"syn_recv"}) {
		t.Errorf("collect[]=syn_recv ran collectors %v, want [syn_recv]", fastCollectors)
	}
	for _, n := range fastNames {
		if !strings.HasPrefix(n, "synguard_syn_recv_") && !strings.HasPrefix(n, "synguard_scrape_collector_") {
			t.Errorf("collect[]=syn_recv served %s", n)
		}
	}
	if !slices.Contains(fastNames, "synguard_syn_recv_sockets") {
		t.Errorf("collect[]=syn_recv served no synguard_syn_recv_sockets:\n%s", fast)
	}

	rest := d.Get(t, "/metrics?exclude[]=syn_recv")
	restNames, restCollectors := familiesOf(rest)
	if !slices.Equal(restCollectors, []string{"probe", "tcpext"}) {
		t.Errorf("exclude[]=syn_recv ran collectors %v", restCollectors)
	}
	// The two jobs' scrapes: every family once, the per-collector
	// families in both (their collector label tells them apart).
	for _, n := range all {
		in := 0
		if slices.Contains(fastNames, n) {
			in++
		}
		if slices.Contains(restNames, n) {
			in++
		}
		shared := strings.HasPrefix(n, "synguard_scrape_collector_")
		if in == 0 || (in == 2) != shared {
			t.Errorf("%s is in %d of the two scrapes", n, in)
		}
	}
	if !slices.Contains(restNames, "synguard_exporter_build_info") || slices.Contains(fastNames, "synguard_exporter_build_info") {
		t.Error("build_info must be in the exclude[]=syn_recv scrape only")
	}

	// Repeated names count once; collect[] of several.
	_, c := familiesOf(d.Get(t, "/metrics?collect[]=tcpext&collect[]=syn_recv&collect[]=tcpext"))
	if !slices.Equal(c, []string{"syn_recv", "tcpext"}) {
		t.Errorf("collect[]=tcpext,syn_recv,tcpext ran %v", c)
	}
	// The exporter's own metrics alone.
	self := d.Get(t, "/metrics?collect[]=exporter")
	if n, c := familiesOf(self); len(c) != 0 || !slices.Contains(n, "synguard_exporter_build_info") {
		t.Errorf("collect[]=exporter: families %v, collectors %v", n, c)
	}

	for _, tc := range []struct{ query, want string }{
		{"collect[]=syn_recvv", `unknown collector "syn_recvv" in collect[]; known collectors: exporter, probe, syn_recv, tcpext`},
		{"exclude[]=synrecv", `unknown collector "synrecv" in exclude[]`},
		{"collect[]=", `unknown collector "" in collect[]`},
		{"collect[]=syn_recv&exclude[]=probe", "collect[] and exclude[] together"},
	} {
		code, body := d.Do(t, http.MethodGet, "/metrics?"+tc.query, "", "")
		if code != http.StatusBadRequest || !strings.Contains(body, tc.want) {
			t.Errorf("?%s: %d %q, want 400 with %q", tc.query, code, body, tc.want)
		}
	}
}

// scrapeJob is the part of a Prometheus scrape config this test reads.
type scrapeJob struct {
	Name           string              `yaml:"job_name"`
	MetricsPath    string              `yaml:"metrics_path"`
	ScrapeInterval string              `yaml:"scrape_interval"`
	Params         map[string][]string `yaml:"params"`
	StaticConfigs  []struct {
		Targets []string `yaml:"targets"`
	} `yaml:"static_configs"`
}

// TestShippedScrapeJobs scrapes a running exporter as each exporter job of
// the shipped Prometheus configs does (their params) and checks that
// together they take every family of /metrics once: SYN_RECV in exactly
// one job, at 1 s, and each collector in exactly one job. A job that lost
// its exclude[]=syn_recv would count every socket twice.
func TestShippedScrapeJobs(t *testing.T) {
	d := startExporter(t, fixtureArgs("testdata/proc")...)
	all, allCollectors := familiesOf(d.Get(t, "/metrics"))
	for _, file := range []string{"../../deploy/prometheus/prometheus.yml", "../../deploy/fleet/prometheus.yml"} {
		t.Run(filepath.Base(filepath.Dir(file)), func(t *testing.T) {
			raw, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			var cfg struct {
				ScrapeConfigs []scrapeJob `yaml:"scrape_configs"`
			}
			if err := yaml.Unmarshal(raw, &cfg); err != nil {
				t.Fatalf("%s: %v", file, err)
			}
			families := map[string][]string{}
			collectors := map[string][]string{}
			jobs := 0
			for _, j := range cfg.ScrapeConfigs {
				if !exporterJob(j) {
					continue
				}
				jobs++
				q := url.Values(j.Params)
				names, cs := familiesOf(d.Get(t, "/metrics?"+q.Encode()))
				for _, n := range names {
					families[n] = append(families[n], j.Name)
				}
				for _, c := range cs {
					collectors[c] = append(collectors[c], j.Name)
				}
				if slices.Contains(names, "synguard_syn_recv_sockets") && j.ScrapeInterval != "1s" {
					t.Errorf("job %s takes SYN_RECV every %q, want 1s", j.Name, j.ScrapeInterval)
				}
			}
			if jobs != 2 {
				t.Errorf("%d exporter jobs, want 2 (SYN_RECV at 1 s, the rest)", jobs)
			}
			for _, n := range all {
				in := families[n]
				if strings.HasPrefix(n, "synguard_scrape_collector_") {
					continue // one series per collector, checked below
				}
				if len(in) != 1 {
					t.Errorf("%s is taken by %d jobs %v, want 1", n, len(in), in)
				}
			}
			for _, c := range allCollectors {
				if len(collectors[c]) != 1 {
					t.Errorf("collector %s is taken by %v, want exactly one job", c, collectors[c])
				}
			}
		})
	}
}

// exporterJob reports whether j scrapes an exporter's /metrics (port 9817;
// the blackbox job's /probe is not).
func exporterJob(j scrapeJob) bool {
	if j.MetricsPath != "" && j.MetricsPath != "/metrics" {
		return false
	}
	for _, sc := range j.StaticConfigs {
		for _, tg := range sc.Targets {
			if strings.HasSuffix(tg, ":9817") {
				return true
			}
		}
	}
	return false
}
