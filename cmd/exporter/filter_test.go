package main

import (
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
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
