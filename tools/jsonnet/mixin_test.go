package jsonnet

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	gojsonnet "github.com/google/go-jsonnet"
)

// eval evaluates the mixin with overrides merged into its _config and
// returns its alerts (both rule sets) and dashboards as JSON values.
func eval(t *testing.T, overrides string) (rules []map[string]any, dashboards map[string]any) {
	t.Helper()
	vm := gojsonnet.MakeVM()
	vm.Importer(&gojsonnet.FileImporter{JPaths: []string{"../../mixin"}})
	src := `local m = (import 'mixin.libsonnet') + { _config+:: ` + overrides + ` };
{ rules: m.prometheusAlerts.groups + m.prometheusFleetAlerts.groups, dashboards: m.grafanaDashboards }`
	out, err := vm.EvaluateAnonymousSnippet("test.jsonnet", src)
	if err != nil {
		t.Fatalf("evaluate the mixin: %v", err)
	}
	var v struct {
		Rules []struct {
			Rules []map[string]any `json:"rules"`
		} `json:"rules"`
		Dashboards map[string]any `json:"dashboards"`
	}
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("decode the mixin's output: %v", err)
	}
	for _, g := range v.Rules {
		rules = append(rules, g.Rules...)
	}
	return rules, v.Dashboards
}

// Any use of a label named host in PromQL or a template: by (host, ...),
// host=~, $labels.host, {{host}}, $s.Labels.host.
var hostUse = regexp.MustCompile(`(by|on) \([^)]*\bhost\b|\bhost\s*(=~|!=|=)|\$labels\.host\b|\{\{\s*host\s*\}\}|Labels\.host\b`)

// TestConfigHostLabel: renaming the host label leaves no rule, annotation or
// panel query on the old name, so a fleet labelled node gets working alerts.
func TestConfigHostLabel(t *testing.T) {
	rules, dashboards := eval(t, `{ hostLabel: 'node' }`)
	if len(rules) == 0 || len(dashboards) == 0 {
		t.Fatal("the mixin produced no rules or no dashboards")
	}
	b, _ := json.Marshal(map[string]any{"rules": rules, "dashboards": dashboards})
	s := string(b)
	if m := hostUse.FindAllString(s, 5); len(m) > 0 {
		t.Errorf("hostLabel node still uses the host label: %q", m)
	}
	if !strings.Contains(s, `$labels.node`) || !strings.Contains(s, `node=~\"$host\"`) {
		t.Error("hostLabel node is not used in annotations and dashboard selectors")
	}
	// The default does use host: the test can fail.
	rules, _ = eval(t, `{}`)
	b, _ = json.Marshal(rules)
	if !hostUse.Match(b) {
		t.Error("the default rules do not use the host label: the pattern above finds nothing")
	}
}

// TestConfigRunbookAndThresholds: the runbook pattern and a threshold reach
// every alert and the sentence that quotes the threshold.
func TestConfigRunbookAndThresholds(t *testing.T) {
	rules, _ := eval(t, `{ runbookURLPattern: 'https://wiki.example/synguard#%s', prefixFloodSockets: 80, metricSelector: 'env="prod"' }`)
	for _, r := range rules {
		name, _ := r["alert"].(string)
		ann, _ := r["annotations"].(map[string]any)
		url, _ := ann["runbook_url"].(string)
		if name != "SynguardFleetPrefixFlooding" && url != "https://wiki.example/synguard#"+strings.ToLower(name) {
			t.Errorf("%s: runbook_url %q does not follow the pattern", name, url)
		}
		if name == "SynguardPrefixFlooding" {
			expr, _ := r["expr"].(string)
			desc, _ := ann["description"].(string)
			if !strings.Contains(expr, ">= 80") || !strings.Contains(desc, "threshold of 80 ") {
				t.Errorf("prefixFloodSockets 80 not in expr %q and description %q", expr, desc)
			}
			if !strings.Contains(expr, `synguard_syn_recv_sockets{env="prod", `) {
				t.Errorf("metricSelector not in expr %q", expr)
			}
		}
	}
}

// TestConfigKeepFiringForOptional: prefixFloodKeepFiringFor null leaves
// keep_firing_for out of the block rule (a Prometheus older than 2.42
// refuses the field), and the default carries it.
func TestConfigKeepFiringForOptional(t *testing.T) {
	for _, c := range []struct {
		overrides string
		want      any
	}{{`{}`, "1s"}, {`{ prefixFloodKeepFiringFor: '5s' }`, "5s"}, {`{ prefixFloodKeepFiringFor: null }`, nil}} {
		rules, _ := eval(t, c.overrides)
		found := false
		for _, r := range rules {
			if r["alert"] != "SynguardPrefixFlooding" {
				continue
			}
			found = true
			if got, ok := r["keep_firing_for"]; got != c.want || ok != (c.want != nil) {
				t.Errorf("%s: keep_firing_for %v (present %v), want %v", c.overrides, got, ok, c.want)
			}
		}
		if !found {
			t.Fatalf("%s: no SynguardPrefixFlooding rule", c.overrides)
		}
	}
}
