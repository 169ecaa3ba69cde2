package collector

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
)

// The query parameters a scrape picks collectors with, as node_exporter's:
// /metrics?collect[]=syn_recv serves only syn_recv, and
// /metrics?exclude[]=syn_recv everything but it. Both are repeatable.
const (
	ParamCollect = "collect[]"
	ParamExclude = "exclude[]"
)

// Select returns the collectors the query q asks for out of known (sorted,
// without duplicates): those collect[] names, or all of known but those
// exclude[] names, or all of known when q has neither. A repeated name
// counts once. A name known does not hold, an empty name, or collect[]
// and exclude[] together is an error saying which and listing known:
// a scrape config with a typo must fail loudly (up 0), not serve too much
// (every series twice beside a second job) or too little.
func Select(q url.Values, known []string) ([]string, error) {
	collect, exclude := q[ParamCollect], q[ParamExclude]
	if len(collect) > 0 && len(exclude) > 0 {
		return nil, fmt.Errorf("%s and %s together: use one of them", ParamCollect, ParamExclude)
	}
	param, names := ParamCollect, collect
	if len(exclude) > 0 {
		param, names = ParamExclude, exclude
	}
	for _, n := range names {
		if !slices.Contains(known, n) {
			return nil, fmt.Errorf("unknown collector %q in %s; known collectors: %s", n, param, strings.Join(known, ", "))
		}
	}
	switch {
	case len(collect) > 0:
		out := make([]string, 0, len(known))
		for _, k := range known {
			if slices.Contains(collect, k) {
				out = append(out, k)
			}
		}
		return out, nil
	case len(exclude) > 0:
		out := make([]string, 0, len(known))
		for _, k := range known {
			if !slices.Contains(exclude, k) {
				out = append(out, k)
			}
		}
		return out, nil
	}
	return known, nil
}
