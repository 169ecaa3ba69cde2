package dashcheck

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The golden /metrics outputs of the two binaries (and of the probe
// collector for a TLS target): the only list of metric
// names the checks accept. They are read from the real files, and the test
// fails while either is missing.
var goldens = []string{
	"../../cmd/exporter/testdata/e2e-output.txt",
	"../../cmd/responder/testdata/e2e-output.txt",
	// The exporter's golden probes no TLS service: the TLS metrics (the
	// certificate's expiry) come from the probe package's own golden.
	"../../internal/probe/testdata/background-tls-metrics.txt",
	// The responder's golden runs firewalld: the nftables backend's own
	// families come from its test in a real namespace (TestResponder).
	"../../internal/nftables/testdata/responder-metrics.txt",
}

// synguard's dashboards select on job and host (host names the machine; the
// exporter and responder on one host have different instances). Grafana's
// linter wants job and instance: its instance rules are excluded, with the
// reason, in dashboards/.lint.
var requiredMatchers = append(slices.Clone(GrafanaMatchers), "host")

func loadCatalog(t *testing.T) Catalog {
	t.Helper()
	cat, err := LoadGolden(goldens...)
	if err != nil {
		t.Fatalf("the metric-name checks need both golden outputs: %v", err)
	}
	return cat
}

func glob(t *testing.T, pattern string) []string {
	t.Helper()
	files, err := filepath.Glob(pattern)
	if err != nil || len(files) == 0 {
		t.Fatalf("no files match %s (%v)", pattern, err)
	}
	return files
}

func TestDashboards(t *testing.T) {
	cat := loadCatalog(t)
	lint, err := LoadLintFile("../../dashboards/.lint")
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range glob(t, "../../dashboards/*.json") {
		t.Run(filepath.Base(path), func(t *testing.T) {
			d, err := LoadDashboard(path)
			if err != nil {
				t.Fatal(err)
			}
			kept, unused := lint.Apply(Lint(d, cat, requiredMatchers))
			for _, p := range kept {
				t.Error(p)
			}
			for _, r := range unused {
				t.Errorf("dashboards/.lint excludes %s, which finds nothing: drop the exclusion", r)
			}
		})
	}
}

func TestRules(t *testing.T) {
	cat := loadCatalog(t)
	for _, path := range glob(t, "../../rules/*.yml") {
		probs, err := LintRules(path, cat)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range probs {
			t.Error(p)
		}
	}
	for _, path := range glob(t, "../../rules/tests/*.yml") {
		probs, err := LintRuleTests(path, cat)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range probs {
			t.Error(p)
		}
	}
}

// TestGoldenMissing: a missing golden output is an error, never an empty
// catalog that would let every name through.
func TestGoldenMissing(t *testing.T) {
	if _, err := LoadGolden("testdata/no-such-file.txt"); err == nil {
		t.Fatal("LoadGolden of a missing file succeeded")
	}
}

// TestLintFindsMistakes feeds the checks a dashboard and rules with one
// mistake of each kind, against a small catalog, and wants each found.
func TestLintFindsMistakes(t *testing.T) {
	cat, err := LoadGolden("testdata/metrics.txt")
	if err != nil {
		t.Fatal(err)
	}
	d, err := LoadDashboard("testdata/bad-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(Lint(d, cat, requiredMatchers), "\n")
	for _, want := range []string{
		`datasource variable is "ds" labelled "DS" of type "prometheus"`,
		`variable host: refresh is 1, want 2`,
		`panel 2 "no unit": no unit`,
		`panel 2 "no unit": id 2 already used by "rate over a gauge"`,
		`unit "sekunden" is not a Grafana unit`,
		`panel 4 "fixed datasource": does not use the datasource variable`,
		`rate() over synguard_demo_sockets, a gauge: only counters go through rate()`,
		`counter synguard_demo_events_total is not read through rate(), irate() or increase()`,
		`metric synguard_demo_invented is not in the golden outputs: no binary emits it`,
		`synguard_demo_sockets has no label "prefx" in the golden outputs`,
		`rate(synguard_demo_events_total[...]) should use $__rate_interval`,
		`selector synguard_demo_sockets lacks host=~"$host"`,
		`parse PromQL "sum(synguard_demo_sockets"`,
		`panel 7 "no description": no description`,
		`deriv() over counter synguard_demo_events_total`,
		`panel 9 "no queries": no queries`,
		`[synguard-range-topk-rule] panel 10 "top 3 over the range" target A: topk in a range query`,
		`[target-instance-rule] panel 10 "top 3 over the range" target A: selector synguard_demo_sockets lacks instance=~"$instance"`,
		`[template-instance-rule] dashboard has no instance variable`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("lint did not report %q; it reported:\n%s", want, got)
		}
	}

	if strings.Contains(got, `panel 11 "top 3 pinned" target A: topk`) {
		t.Errorf("topk pinned with @ end() reported:\n%s", got)
	}

	probs, err := LintRules("testdata/bad-rules.yml", cat)
	if err != nil {
		t.Fatal(err)
	}
	got = strings.Join(probs, "\n")
	for _, want := range []string{
		`rule BlockAll: block alert aggregates the prefix label away`,
		`rule BlockAll: block alert does not exclude prefix="other"`,
		`rule NoRunbook: no runbook_url annotation`,
		`rule NoRunbook: annotation description query: metric synguard_demo_nope is not in the golden outputs`,
		`rule GaugeRate: rate() over synguard_demo_sockets, a gauge`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("rule lint did not report %q; it reported:\n%s", want, got)
		}
	}

	probs, err = LintRuleTests("testdata/bad-rules.test.yml", cat)
	if err != nil {
		t.Fatal(err)
	}
	got = strings.Join(probs, "\n")
	for _, want := range []string{
		`metric synguard_demo_gone is not in the golden outputs`,
		`synguard_demo_sockets has no label "prefx" in the golden outputs`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("rule test lint did not report %q; it reported:\n%s", want, got)
		}
	}
}

func TestSubstituteVariables(t *testing.T) {
	for in, want := range map[string]string{
		`rate(x{job=~"$job"}[$__rate_interval])`:       `rate(x{job=~"var"}[4321s])`,
		`increase(x{host=~"${host}"}[$__range])`:       `increase(x{host=~"var"}[5m])`,
		`sum(x{host=~"${host:regex}"}[${__interval}])`: `sum(x{host=~"var"}[5m])`,
	} {
		if got := SubstituteVariables(in); got != want {
			t.Errorf("SubstituteVariables(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestRunbookLinks: every alert links to its own section of a document in
// docs/ of this repository.
func TestRunbookLinks(t *testing.T) {
	const repoDocs = "https://github.com/synguard/synguard/blob/main/docs/"
	for _, path := range glob(t, "../../rules/*.yml") {
		links, err := RunbookLinks(path)
		if err != nil {
			t.Fatal(err)
		}
		for alert, url := range links {
			doc, anchor, ok := strings.Cut(strings.TrimPrefix(url, repoDocs), "#")
			if !ok || !strings.HasPrefix(url, repoDocs) || strings.Contains(doc, "/") {
				t.Errorf("%s: %s: runbook_url %q is not an anchor in docs/ of this repository", path, alert, url)
				continue
			}
			anchors, err := RunbookAnchors("../../docs/" + doc)
			if err != nil {
				t.Errorf("%s: %s: %v", path, alert, err)
				continue
			}
			if !anchors[anchor] {
				t.Errorf("%s: %s: docs/%s has no section #%s", path, alert, doc, anchor)
			}
			if anchor != strings.ToLower(alert) {
				t.Errorf("%s: %s links to #%s, not its own section", path, alert, anchor)
			}
		}
	}
}

// TestLintFile: an exclusion drops its rule's findings and only those, an
// exclusion that matches nothing is reported, and one without a reason or
// of an unknown rule is refused.
func TestLintFile(t *testing.T) {
	f, err := LoadLintFile("testdata/good.lint")
	if err != nil {
		t.Fatal(err)
	}
	kept, unused := f.Apply([]string{
		finding(ruleTargetInstance, "a"), finding(ruleTargetJob, "b"),
	})
	if len(kept) != 1 || FindingRule(kept[0]) != ruleTargetJob {
		t.Errorf("kept %q, want only the target-job-rule finding", kept)
	}
	if len(unused) != 1 || unused[0] != ruleTemplateInstance {
		t.Errorf("unused %q, want [template-instance-rule]", unused)
	}
	for file, want := range map[string]string{
		"testdata/no-reason.lint":    "gives no reason",
		"testdata/unknown-rule.lint": `unknown rule "panel-colour-rule"`,
	} {
		if _, err := LoadLintFile(file); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want an error with %q", file, err, want)
		}
	}
}
