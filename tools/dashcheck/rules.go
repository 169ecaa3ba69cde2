package dashcheck

import (
	"fmt"
	"os"
	"regexp"
	"strings"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
	"go.yaml.in/yaml/v3"
)

// RuleFile is the part of a Prometheus rule file the checks read.
type RuleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert       string            `yaml:"alert"`
			Record      string            `yaml:"record"`
			Expr        string            `yaml:"expr"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

// RuleTestFile is the part of a promtool rule test file the checks read.
type RuleTestFile struct {
	Tests []struct {
		Name        string `yaml:"name"`
		InputSeries []struct {
			Series string `yaml:"series"`
		} `yaml:"input_series"`
	} `yaml:"tests"`
}

// Queries inside annotation templates: printf `...` | query.
var templateQuery = regexp.MustCompile("printf\\s+`([^`]*)`[^}]*\\|\\s*query")

// Verbs printf fills in those queries, replaced by a label value.
var printfVerb = regexp.MustCompile(`%[qsdv]`)

// LintRules checks every rule expression, and every query an annotation
// template runs, against the catalog; alerts must carry a summary, a
// description and a runbook. Block alerts (action="block") must keep the
// prefix label of their series, which the responder reads.
func LintRules(path string, cat Catalog) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read rules: %w", err)
	}
	var f RuleFile
	if err := yaml.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("decode rules %s: %w", path, err)
	}
	var probs []string
	n := 0
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			n++
			name := r.Alert + r.Record
			where := fmt.Sprintf("%s: group %s rule %s", path, g.Name, name)
			for _, p := range CheckQuery(r.Expr, cat) {
				probs = append(probs, where+": "+p)
			}
			if r.Alert == "" {
				continue
			}
			for _, a := range []string{"summary", "description", "runbook_url"} {
				if strings.TrimSpace(r.Annotations[a]) == "" {
					probs = append(probs, fmt.Sprintf("%s: no %s annotation", where, a))
				}
			}
			for k, text := range r.Annotations {
				for _, m := range templateQuery.FindAllStringSubmatch(text, -1) {
					q := printfVerb.ReplaceAllString(m[1], `"x"`)
					for _, p := range CheckQuery(q, cat) {
						probs = append(probs, fmt.Sprintf("%s: annotation %s query: %s", where, k, p))
					}
				}
			}
			if r.Labels["action"] == "block" {
				probs = append(probs, checkBlockRule(where, r.Expr)...)
			}
		}
	}
	if n == 0 {
		probs = append(probs, path+": no rules")
	}
	return probs, nil
}

// checkBlockRule makes sure a block alert's expression cannot lose the
// prefix label (an aggregation without it) and excludes prefix="other".
func checkBlockRule(where, expr string) []string {
	e, err := parser.NewParser(parser.Options{}).ParseExpr(expr)
	if err != nil {
		return nil // reported by CheckQuery
	}
	var probs []string
	excludesOther := false
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		switch n := n.(type) {
		case *parser.AggregateExpr:
			keeps := false
			for _, g := range n.Grouping {
				if g == "prefix" {
					keeps = true
				}
			}
			if keeps == n.Without {
				probs = append(probs, fmt.Sprintf("%s: block alert aggregates the prefix label away", where))
			}
		case *parser.VectorSelector:
			for _, m := range n.LabelMatchers {
				if m.Name == "prefix" && !m.Matches("other") {
					excludesOther = true
				}
			}
		}
		return nil
	})
	if !excludesOther {
		probs = append(probs, fmt.Sprintf("%s: block alert does not exclude prefix=\"other\"", where))
	}
	return probs
}

// LintRuleTests checks that the series a promtool test feeds in are ones the
// binaries emit, with labels they carry, so a test cannot pass on a metric
// that does not exist.
func LintRuleTests(path string, cat Catalog) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read rule tests: %w", err)
	}
	var f RuleTestFile
	if err := yaml.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("decode rule tests %s: %w", path, err)
	}
	var probs []string
	p := parser.NewParser(parser.Options{})
	for _, t := range f.Tests {
		for _, s := range t.InputSeries {
			where := fmt.Sprintf("%s: test %q series %s", path, t.Name, s.Series)
			lset, err := p.ParseMetric(s.Series)
			if err != nil {
				probs = append(probs, fmt.Sprintf("%s: %v", where, err))
				continue
			}
			name := lset.Get("__name__")
			if !strings.HasPrefix(name, "synguard_") {
				continue
			}
			m, ok := cat.Lookup(name)
			if !ok {
				probs = append(probs, fmt.Sprintf("%s: metric %s is not in the golden outputs", where, name))
				continue
			}
			lset.Range(func(l labels.Label) {
				if !m.Labels[l.Name] && !targetLabels[l.Name] {
					probs = append(probs, fmt.Sprintf("%s: %s has no label %q in the golden outputs", where, name, l.Name))
				}
			})
		}
	}
	return probs, nil
}

// RunbookAnchors returns the anchors GitHub gives the headings of a
// Markdown file: lower case, spaces as hyphens, other punctuation dropped.
func RunbookAnchors(path string) (map[string]bool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read runbook: %w", err)
	}
	anchors := map[string]bool{}
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(line, "#") {
			continue
		}
		title := strings.TrimSpace(strings.TrimLeft(line, "#"))
		var a strings.Builder
		for _, r := range strings.ToLower(title) {
			switch {
			case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '_':
				a.WriteRune(r)
			case r == ' ':
				a.WriteRune('-')
			}
		}
		anchors[a.String()] = true
	}
	return anchors, nil
}

// RunbookLinks returns each alert's runbook_url in a rule file.
func RunbookLinks(path string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read rules: %w", err)
	}
	var f RuleFile
	if err := yaml.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("decode rules %s: %w", path, err)
	}
	links := map[string]string{}
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			if r.Alert != "" {
				links[r.Alert] = r.Annotations["runbook_url"]
			}
		}
	}
	return links, nil
}
