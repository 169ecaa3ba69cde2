package dashcheck

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/prometheus/promql/parser"
)

// Grafana's built-in range variables, replaced by a duration before parsing.
// $__rate_interval gets a duration of its own, so a selector's range shows
// whether the query used it.
var (
	grafanaRateInterval = regexp.MustCompile(`\$__rate_interval\b|\$\{__rate_interval\}`)
	grafanaDurations    = regexp.MustCompile(`\$__(interval|range|interval_ms|range_s|range_ms)\b|\$\{__(interval|range)\}`)
)

// rateIntervalStandIn is what $__rate_interval becomes before parsing.
const rateIntervalStandIn = 4321 * time.Second

// Dashboard variables ($job, ${host}, ${host:regex}), replaced by a word
// that is valid wherever a variable may stand in a query (label values).
var dashboardVariable = regexp.MustCompile(`\$\{[A-Za-z_][A-Za-z0-9_]*(:[a-z]+)?\}|\$[A-Za-z_][A-Za-z0-9_]*`)

// variableStandIn is what a dashboard variable becomes before parsing.
const variableStandIn = "var"

// SubstituteVariables replaces Grafana variables with values that keep a
// query parseable, as Grafana does before it sends the query.
func SubstituteVariables(q string) string {
	q = grafanaRateInterval.ReplaceAllString(q, fmt.Sprintf("%ds", int(rateIntervalStandIn.Seconds())))
	q = grafanaDurations.ReplaceAllString(q, "5m")
	return dashboardVariable.ReplaceAllString(q, variableStandIn)
}

// Functions over a range that only make sense on counters.
var counterFuncs = map[string]bool{"rate": true, "irate": true, "increase": true, "resets": true}

// Functions over a range that are wrong on counters (they see resets as drops).
var gaugeFuncs = map[string]bool{"delta": true, "idelta": true, "deriv": true, "predict_linear": true}

// Types of metrics that are not synguard's but that queries use.
var wellKnown = map[string]string{"up": "gauge", "ALERTS": "gauge", "ALERTS_FOR_STATE": "gauge"}

// Labels every scraped series has, or gets from synguard's scrape configs.
var targetLabels = map[string]bool{"__name__": true, "job": true, "instance": true, "host": true}

// Selector is one metric selector found in a query.
type Selector struct {
	// Name is the metric name.
	Name string
	// Matchers maps the label names the selector matches on to their values,
	// after substitution (a dashboard variable reads "var").
	Matchers map[string]string
	// Func is the range function directly around the selector, if any.
	Func string
	// RateInterval says the range is Grafana's $__rate_interval.
	RateInterval bool
}

// Selectors parses q (Grafana variables substituted) and returns its metric
// selectors, each with the range function directly around it.
func Selectors(q string) ([]Selector, error) {
	expr, err := parser.NewParser(parser.Options{}).ParseExpr(SubstituteVariables(q))
	if err != nil {
		return nil, fmt.Errorf("parse PromQL %q: %w", q, err)
	}
	var out []Selector
	parser.Inspect(expr, func(n parser.Node, path []parser.Node) error {
		vs, ok := n.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		s := Selector{Name: vs.Name, Matchers: map[string]string{}}
		for _, m := range vs.LabelMatchers {
			if m.Name == "__name__" {
				if s.Name == "" && m.Type.String() == "=" {
					s.Name = m.Value
				}
				continue
			}
			s.Matchers[m.Name] = m.Value
		}
		if len(path) >= 1 {
			if ms, ok := path[len(path)-1].(*parser.MatrixSelector); ok {
				s.RateInterval = ms.Range == rateIntervalStandIn
				if len(path) >= 2 {
					if call, ok := path[len(path)-2].(*parser.Call); ok {
						s.Func = call.Func.Name
					}
				}
			}
		}
		out = append(out, s)
		return nil
	})
	return out, nil
}

// CheckQuery parses q and checks every metric it selects against the
// catalog: a synguard_ name must be one the binaries emit, matched only on
// labels it carries; counters are read only through rate, irate, increase or
// resets, and those functions only over counters. It returns one message
// per problem.
func CheckQuery(q string, cat Catalog) []string {
	sels, err := Selectors(q)
	if err != nil {
		return []string{err.Error()}
	}
	var probs []string
	for _, s := range sels {
		typ := ""
		if m, ok := cat.Lookup(s.Name); ok {
			typ = m.Type
			if strings.HasPrefix(s.Name, "synguard_") {
				for l := range s.Matchers {
					if !m.Labels[l] && !targetLabels[l] {
						probs = append(probs, fmt.Sprintf("%s has no label %q in the golden outputs (it has %s)", s.Name, l, labelList(m.Labels)))
					}
				}
			}
		} else if strings.HasPrefix(s.Name, "synguard_") {
			probs = append(probs, fmt.Sprintf("metric %s is not in the golden outputs: no binary emits it", s.Name))
			continue
		} else if t, ok := wellKnown[s.Name]; ok {
			typ = t
		} else if strings.HasSuffix(s.Name, "_total") {
			typ = "counter"
		}
		switch {
		case counterFuncs[s.Func] && typ != "counter" && typ != "":
			probs = append(probs, fmt.Sprintf("%s() over %s, a %s: only counters go through %s()", s.Func, s.Name, typ, s.Func))
		case gaugeFuncs[s.Func] && typ == "counter":
			probs = append(probs, fmt.Sprintf("%s() over counter %s: use rate() or increase()", s.Func, s.Name))
		case typ == "counter" && !counterFuncs[s.Func]:
			probs = append(probs, fmt.Sprintf("counter %s is not read through rate(), irate() or increase()", s.Name))
		}
	}
	return probs
}

func labelList(m map[string]bool) string {
	var l []string
	for k := range m {
		l = append(l, k)
	}
	sort.Strings(l)
	if len(l) == 0 {
		return "none"
	}
	return strings.Join(l, ", ")
}
