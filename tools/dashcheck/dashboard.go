package dashcheck

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
)

// Dashboard is the part of a Grafana dashboard JSON the checks read.
type Dashboard struct {
	UID        string  `json:"uid"`
	Title      string  `json:"title"`
	Panels     []Panel `json:"panels"`
	Templating struct {
		List []Variable `json:"list"`
	} `json:"templating"`
	Annotations struct {
		List []struct {
			Name       string      `json:"name"`
			Datasource *Datasource `json:"datasource"`
			Expr       string      `json:"expr"`
		} `json:"list"`
	} `json:"annotations"`
}

// Datasource is a panel's, target's or variable's datasource reference.
type Datasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

// Variable is one templating variable.
type Variable struct {
	Type       string          `json:"type"`
	Name       string          `json:"name"`
	Label      string          `json:"label"`
	Query      json.RawMessage `json:"query"`
	Datasource *Datasource     `json:"datasource"`
	Refresh    int             `json:"refresh"`
	Multi      bool            `json:"multi"`
	IncludeAll bool            `json:"includeAll"`
}

// Panel is one panel (rows included; a collapsed row holds its panels).
type Panel struct {
	ID          int         `json:"id"`
	Type        string      `json:"type"`
	Title       string      `json:"title"`
	Description string      `json:"description"`
	Datasource  *Datasource `json:"datasource"`
	GridPos     *struct {
		X, Y, W, H int
	} `json:"gridPos"`
	Targets     []Target `json:"targets"`
	Panels      []Panel  `json:"panels"`
	FieldConfig struct {
		Defaults struct {
			Unit     string            `json:"unit"`
			Mappings []json.RawMessage `json:"mappings"`
		} `json:"defaults"`
		Overrides []struct {
			Properties []struct {
				ID    string          `json:"id"`
				Value json.RawMessage `json:"value"`
			} `json:"properties"`
		} `json:"overrides"`
	} `json:"fieldConfig"`
}

// Target is one query of a panel.
type Target struct {
	RefID      string      `json:"refId"`
	Expr       string      `json:"expr"`
	Datasource *Datasource `json:"datasource"`
	// Instant queries one point; a range query is evaluated at every step.
	Instant bool `json:"instant"`
}

// LoadDashboard reads a dashboard JSON file, refusing unknown top-level
// shapes only as far as encoding/json does.
func LoadDashboard(path string) (*Dashboard, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read dashboard: %w", err)
	}
	var d Dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, fmt.Errorf("decode dashboard %s: %w", path, err)
	}
	return &d, nil
}

// Units Grafana knows (packages/grafana-data valueFormats), those a
// dashboard of this kind may use. An unknown unit id renders as a plain
// number with the id appended, so a typo is a finding.
var validUnits = map[string]bool{
	"none": true, "short": true, "percent": true, "percentunit": true, "string": true,
	"s": true, "ms": true, "µs": true, "ns": true, "m": true, "h": true, "d": true,
	"dtdurations": true, "dtdurationms": true, "dthms": true, "dtdhms": true,
	"dateTimeAsIso": true, "dateTimeAsLocal": true, "dateTimeFromNow": true, "dateTimeAsSystem": true,
	"cps": true, "ops": true, "reqps": true, "rps": true, "cpm": true, "opm": true, "pps": true,
	"bytes": true, "decbytes": true, "bool": true, "bool_yes_no": true, "bool_on_off": true,
}

// Panel types that show numbers and so need a unit.
var numericPanels = map[string]bool{
	"timeseries": true, "graph": true, "stat": true, "singlestat": true, "gauge": true,
	"bargauge": true, "table": true, "state-timeline": true, "status-history": true, "heatmap": true,
}

// Panel types that hold no query.
var queryless = map[string]bool{"row": true, "text": true, "news": true, "dashlist": true, "alertlist": true}

// The datasource variable's name and label, as Grafana's linter wants them.
const (
	datasourceVar   = "datasource"
	datasourceLabel = "Data source"
)

func usesDatasourceVar(ds *Datasource) bool {
	return ds != nil && (ds.UID == "${"+datasourceVar+"}" || ds.UID == "$"+datasourceVar)
}

// Lint checks a dashboard the way Grafana's dashboard linter does, parses
// every query and checks its metrics against the catalog. requiredMatchers
// are label names every query's selectors must match on with a variable
// (synguard's are job and host: host, not instance, names a machine, since
// the exporter and the responder on one host have different instances).
func Lint(d *Dashboard, cat Catalog, requiredMatchers []string) []string {
	var probs []string
	add := func(rule, format string, a ...any) { probs = append(probs, finding(rule, fmt.Sprintf(format, a...))) }

	if d.UID == "" || d.Title == "" {
		add(ruleIdentity, "dashboard needs a uid and a title (provisioning keys on the uid)")
	}

	// template-datasource-rule: one datasource variable, named and labelled
	// as the linter wants, of type prometheus.
	vars := map[string]Variable{}
	var dsVars []Variable
	for _, v := range d.Templating.List {
		vars[v.Name] = v
		if v.Type == "datasource" {
			dsVars = append(dsVars, v)
		}
	}
	switch {
	case len(dsVars) != 1:
		add(ruleTemplateDatasource, "dashboard has %d datasource variables, want exactly one", len(dsVars))
	default:
		v := dsVars[0]
		var q string
		_ = json.Unmarshal(v.Query, &q)
		if v.Name != datasourceVar || v.Label != datasourceLabel || q != "prometheus" {
			add(ruleTemplateDatasource, "datasource variable is %q labelled %q of type %q; want %q labelled %q of type prometheus", v.Name, v.Label, q, datasourceVar, datasourceLabel)
		}
	}
	// template variables: queries use the datasource variable, parse, and
	// reload on time range change (refresh 2); matchers have their variable.
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		if !usesDatasourceVar(v.Datasource) {
			add(ruleTemplateDatasource, "variable %s does not use the datasource variable", v.Name)
		}
		if v.Refresh != 2 {
			add(ruleTemplateReload, "variable %s: refresh is %d, want 2 (on time range change)", v.Name, v.Refresh)
		}
		if !v.Multi || !v.IncludeAll {
			add(ruleTemplateMulti, "variable %s should allow several values and All", v.Name)
		}
		q := variableQuery(v.Query)
		inner, ok := strings.CutPrefix(q, "label_values(")
		if !ok {
			add(ruleTemplateLabelPromQL, "variable %s: query %q is not label_values(...)", v.Name, q)
			continue
		}
		i := strings.LastIndex(inner, ",")
		if i < 0 {
			continue // label_values(label): no selector to check
		}
		for _, p := range CheckQuery(inner[:i], cat) {
			add(ruleTemplateLabelPromQL, "variable %s: %s", v.Name, p)
		}
	}
	for _, m := range requiredMatchers {
		if _, ok := vars[m]; !ok {
			add(templateRule(m), "dashboard has no %s variable", m)
		}
	}

	for _, a := range d.Annotations.List {
		if a.Expr == "" {
			continue
		}
		if !usesDatasourceVar(a.Datasource) {
			add(rulePanelDatasource, "annotation %q does not use the datasource variable", a.Name)
		}
		for _, p := range CheckQuery(a.Expr, cat) {
			add(ruleTargetPromQL, "annotation %q: %s", a.Name, p)
		}
	}

	ids := map[int]string{}
	var placed []Panel
	var walk func(ps []Panel)
	walk = func(ps []Panel) {
		for _, p := range ps {
			where := fmt.Sprintf("panel %d %q", p.ID, p.Title)
			if p.ID <= 0 {
				add(ruleLayout, "%s: no id", where)
			} else if other, dup := ids[p.ID]; dup {
				add(ruleLayout, "%s: id %d already used by %q", where, p.ID, other)
			}
			ids[p.ID] = p.Title
			if p.GridPos == nil || p.GridPos.W <= 0 || p.GridPos.H <= 0 || p.GridPos.X < 0 || p.GridPos.X+p.GridPos.W > 24 {
				add(ruleLayout, "%s: missing or invalid gridPos", where)
			} else {
				for _, o := range placed {
					if overlap(p, o) {
						add(ruleLayout, "%s: overlaps panel %d %q", where, o.ID, o.Title)
					}
				}
				placed = append(placed, p)
			}
			if strings.TrimSpace(p.Title) == "" {
				add(rulePanelTitleDescription, "%s: no title", where)
			}
			walk(p.Panels)
			if queryless[p.Type] {
				continue
			}
			if strings.TrimSpace(p.Description) == "" {
				add(rulePanelTitleDescription, "%s: no description", where)
			}
			if !usesDatasourceVar(p.Datasource) {
				add(rulePanelDatasource, "%s: does not use the datasource variable", where)
			}
			if numericPanels[p.Type] {
				unit := p.FieldConfig.Defaults.Unit
				for _, o := range p.FieldConfig.Overrides {
					for _, prop := range o.Properties {
						var u string
						if prop.ID == "unit" && json.Unmarshal(prop.Value, &u) == nil && !validUnits[u] {
							add(rulePanelUnits, "%s: override unit %q is not a Grafana unit", where, u)
						}
					}
				}
				switch {
				case unit == "":
					add(rulePanelUnits, "%s: no unit", where)
				case !validUnits[unit]:
					add(rulePanelUnits, "%s: unit %q is not a Grafana unit", where, unit)
				}
			}
			if len(p.Targets) == 0 {
				add(rulePanelNoTargets, "%s: no queries", where)
			}
			refs := map[string]bool{}
			for _, t := range p.Targets {
				tw := fmt.Sprintf("%s target %s", where, t.RefID)
				if t.RefID == "" || refs[t.RefID] {
					add(ruleLayout, "%s: missing or duplicate refId", tw)
				}
				refs[t.RefID] = true
				if t.Datasource != nil && !usesDatasourceVar(t.Datasource) {
					add(rulePanelDatasource, "%s: does not use the datasource variable", tw)
				}
				if strings.TrimSpace(t.Expr) == "" {
					add(ruleTargetPromQL, "%s: empty query", tw)
					continue
				}
				for _, pr := range CheckQuery(t.Expr, cat) {
					add(ruleTargetPromQL, "%s: %s", tw, pr)
				}
				probs = append(probs, lintSelectors(tw, t.Expr, requiredMatchers)...)
				if !t.Instant {
					if p := rangeTopK(t.Expr); p != "" {
						add(ruleRangeTopK, "%s: %s", tw, p)
					}
				}
			}
		}
	}
	walk(d.Panels)
	return probs
}

// overlap says whether two panels' grid rectangles intersect; Grafana
// would push one of them down, away from where its author put it.
func overlap(a, b Panel) bool {
	ga, gb := a.GridPos, b.GridPos
	return ga.X < gb.X+gb.W && gb.X < ga.X+ga.W && ga.Y < gb.Y+gb.H && gb.Y < ga.Y+ga.H
}

// lintSelectors applies the linter's per-selector rules to a panel query:
// rate() and irate() use $__rate_interval, and every selector matches the
// required labels with a variable.
func lintSelectors(where, expr string, required []string) []string {
	sels, err := Selectors(expr)
	if err != nil {
		return nil // CheckQuery reports it
	}
	var probs []string
	for _, s := range sels {
		if (s.Func == "rate" || s.Func == "irate") && !s.RateInterval {
			probs = append(probs, finding(ruleTargetRateInterval, fmt.Sprintf("%s: %s(%s[...]) should use $__rate_interval", where, s.Func, s.Name)))
		}
		for _, m := range required {
			if s.Matchers[m] != variableStandIn {
				probs = append(probs, finding(targetRule(m), fmt.Sprintf("%s: selector %s lacks %s=~\"$%s\"", where, s.Name, m, m)))
			}
		}
	}
	return probs
}

// variableQuery returns a query variable's PromQL, stored either as a
// string or, in newer Grafana, as an object with a query field.
func variableQuery(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var o struct {
		Query string `json:"query"`
	}
	_ = json.Unmarshal(raw, &o)
	return o.Query
}
