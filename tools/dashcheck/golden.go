package dashcheck

import (
	"bufio"
	"fmt"
	"os"
	"regexp"
	"strings"
)

// Metric is what a golden output says about one metric family.
type Metric struct {
	// Type is the family's TYPE: counter, gauge, histogram, summary, untyped.
	Type string
	// Labels holds every label name seen on the family's samples.
	Labels map[string]bool
}

// Catalog maps metric family names to what the golden outputs say of them.
type Catalog map[string]Metric

// A label name followed by the start of its quoted value.
var labelName = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)="`)

// LoadGolden reads golden /metrics outputs into one Catalog. A missing or
// empty file is an error: the checks must never pass on a list that does
// not come from the binaries.
//
// The goldens are Prometheus text format with volatile parts normalised
// (build labels read `{<build labels>}`), so the reader takes TYPE lines
// and the names and label names of samples, and does not insist on a
// strictly valid exposition.
func LoadGolden(paths ...string) (Catalog, error) {
	c := Catalog{}
	for _, p := range paths {
		if err := c.load(p); err != nil {
			return nil, err
		}
	}
	return c, nil
}

func (c Catalog) load(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("read golden metrics: %w", err)
	}
	defer f.Close()
	n := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if rest, ok := strings.CutPrefix(line, "# TYPE "); ok {
			fields := strings.Fields(rest)
			if len(fields) != 2 {
				return fmt.Errorf("golden metrics %s: bad TYPE line %q", path, line)
			}
			m := c.family(fields[0])
			m.Type = fields[1]
			c[fields[0]] = m
			n++
			continue
		}
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, labels, _ := strings.Cut(line, "{")
		if !strings.Contains(line, "{") {
			name, _, _ = strings.Cut(line, " ")
		}
		fam := c.familyOf(strings.TrimSpace(name))
		m := c.family(fam)
		if end := strings.LastIndex(labels, "}"); end >= 0 {
			for _, l := range labelName.FindAllStringSubmatch(labels[:end], -1) {
				m.Labels[l[1]] = true
			}
		}
		c[fam] = m
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read golden metrics %s: %w", path, err)
	}
	if n == 0 {
		return fmt.Errorf("golden metrics %s: no TYPE lines", path)
	}
	return nil
}

func (c Catalog) family(name string) Metric {
	m, ok := c[name]
	if !ok {
		m = Metric{Type: "untyped", Labels: map[string]bool{}}
	}
	return m
}

// familyOf maps a histogram's or summary's series name to its family.
func (c Catalog) familyOf(series string) string {
	if _, ok := c[series]; ok {
		return series
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(series, suffix); ok {
			if m, ok := c[base]; ok && (m.Type == "histogram" || m.Type == "summary") {
				return base
			}
		}
	}
	return series
}

// Lookup returns the family a series name belongs to; the _bucket, _sum and
// _count series of histograms and summaries count up, as counters do.
func (c Catalog) Lookup(series string) (Metric, bool) {
	fam := c.familyOf(series)
	m, ok := c[fam]
	if !ok {
		return Metric{}, false
	}
	if fam != series {
		return Metric{Type: "counter", Labels: m.Labels}, true
	}
	return m, true
}
