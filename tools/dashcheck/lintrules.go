package dashcheck

import (
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"

	"github.com/prometheus/prometheus/promql/parser"
	"go.yaml.in/yaml/v3"
)

// Rule names: Grafana dashboard-linter's where the check is one of its
// rules, synguard- where it is dashcheck's own. A finding starts with its
// rule in brackets, which is what a lint file's exclusions match.
const (
	ruleTemplateDatasource     = "template-datasource-rule"
	ruleTemplateJob            = "template-job-rule"
	ruleTemplateInstance       = "template-instance-rule"
	ruleTemplateLabelPromQL    = "template-label-promql-rule"
	ruleTemplateReload         = "template-on-time-change-reload-rule"
	rulePanelDatasource        = "panel-datasource-rule"
	rulePanelTitleDescription  = "panel-title-description-rule"
	rulePanelUnits             = "panel-units-rule"
	rulePanelNoTargets         = "panel-no-targets-rule"
	ruleTargetPromQL           = "target-promql-rule"
	ruleTargetRateInterval     = "target-rate-interval-rule"
	ruleTargetJob              = "target-job-rule"
	ruleTargetInstance         = "target-instance-rule"
	ruleIdentity               = "synguard-identity-rule"
	ruleLayout                 = "synguard-layout-rule"
	ruleTemplateMulti          = "synguard-template-multi-rule"
	ruleRangeTopK              = "synguard-range-topk-rule"
	ruleTemplateLabelGeneric   = "synguard-template-label-rule"
	ruleTargetLabelGeneric     = "synguard-target-label-rule"
	findingRulePrefixSeparator = "] "
)

// GrafanaMatchers are the labels Grafana's linter wants a variable for and
// a matcher on in every selector (template-/target-job-rule,
// template-/target-instance-rule).
var GrafanaMatchers = []string{"job", "instance"}

// KnownRules are the rule names a lint file may exclude.
var KnownRules = []string{
	ruleTemplateDatasource, ruleTemplateJob, ruleTemplateInstance, ruleTemplateLabelPromQL, ruleTemplateReload,
	rulePanelDatasource, rulePanelTitleDescription, rulePanelUnits, rulePanelNoTargets,
	ruleTargetPromQL, ruleTargetRateInterval, ruleTargetJob, ruleTargetInstance,
	ruleIdentity, ruleLayout, ruleTemplateMulti, ruleRangeTopK, ruleTemplateLabelGeneric, ruleTargetLabelGeneric,
}

func finding(rule, msg string) string { return "[" + rule + findingRulePrefixSeparator + msg }

// FindingRule returns the rule a finding of Lint belongs to.
func FindingRule(f string) string {
	r, _, _ := strings.Cut(strings.TrimPrefix(f, "["), findingRulePrefixSeparator)
	return r
}

func templateRule(label string) string {
	switch label {
	case "job":
		return ruleTemplateJob
	case "instance":
		return ruleTemplateInstance
	}
	return ruleTemplateLabelGeneric
}

func targetRule(label string) string {
	switch label {
	case "job":
		return ruleTargetJob
	case "instance":
		return ruleTargetInstance
	}
	return ruleTargetLabelGeneric
}

// LintFile is Grafana dashboard-linter's .lint file, beside the dashboards:
// rules excluded, each with the reason it does not apply.
type LintFile struct {
	Exclusions map[string]struct {
		Reason string `yaml:"reason"`
	} `yaml:"exclusions"`
}

// LoadLintFile reads a .lint file. Every exclusion must name a rule
// dashcheck knows and give a reason: an exclusion nobody can explain is a
// finding hidden, not a decision.
func LoadLintFile(path string) (*LintFile, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read lint file: %w", err)
	}
	var f LintFile
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("decode lint file %s: %w", path, err)
	}
	for rule, ex := range f.Exclusions {
		if !slices.Contains(KnownRules, rule) {
			return nil, fmt.Errorf("lint file %s: exclusion of unknown rule %q", path, rule)
		}
		if strings.TrimSpace(ex.Reason) == "" {
			return nil, fmt.Errorf("lint file %s: exclusion of %s gives no reason", path, rule)
		}
	}
	return &f, nil
}

// Apply drops the findings of excluded rules and returns the rest, and the
// excluded rules that matched nothing (a stale exclusion hides the next
// real finding of its rule, so it is reported too).
func (f *LintFile) Apply(findings []string) (kept []string, unused []string) {
	used := map[string]bool{}
	for _, p := range findings {
		r := FindingRule(p)
		if _, ok := f.Exclusions[r]; ok {
			used[r] = true
			continue
		}
		kept = append(kept, p)
	}
	for r := range f.Exclusions {
		if !used[r] {
			unused = append(unused, r)
		}
	}
	slices.Sort(unused)
	return kept, unused
}

// Range functions whose result, in a range query, changes series from step
// to step under topk: the set is chosen anew at every step.
var selectingAggregations = map[parser.ItemType]bool{parser.TOPK: true, parser.BOTTOMK: true, parser.LIMITK: true}

var anyAt = regexp.MustCompile(`@\s*(end|start)\(\)|@\s*[0-9]`)

// rangeTopK reports a topk/bottomk/limitk in a range query whose choice is
// not pinned with @ end() (or start(), or a time): Prometheus picks the top
// k at every step, so a graph of "top 10" draws every series that was ever
// in the top 10 in the range, often many more than 10.
func rangeTopK(q string) string {
	expr, err := parser.NewParser(parser.Options{}).ParseExpr(SubstituteVariables(q))
	if err != nil {
		return "" // CheckQuery reports it
	}
	var prob string
	parser.Inspect(expr, func(n parser.Node, _ []parser.Node) error {
		a, ok := n.(*parser.AggregateExpr)
		if !ok || !selectingAggregations[a.Op] || prob != "" {
			return nil
		}
		if !anyAt.MatchString(a.Expr.String()) {
			prob = fmt.Sprintf("%s in a range query picks its series anew at every step and draws more than it names; pin the choice with @ end() (e.g. x and topk(k, max_over_time(x[$__range] @ end())))", a.Op)
		}
		return nil
	})
	return prob
}
