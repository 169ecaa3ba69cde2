package configfile

import (
	"regexp"
	"time"

	"github.com/prometheus/common/model"
	"gopkg.in/yaml.v3"
)

// Duration is a duration in Prometheus's notation: a number and a unit out
// of ms, s, m, h, d, w, y, compounded from the largest down ("90s", "1h30m",
// "1d", "7d"). Every duration of every synguard config is one, so the
// exporter and the responder read the same words the same way. Fractions
// ("1.5s") and negative durations are not durations here.
type Duration time.Duration

// UnmarshalYAML parses the duration, naming its line when it is bad.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return Errorf(n, "a duration such as 90s, 1h or 7d is one word, not a %s", kindName(n.Kind))
	}
	v, err := model.ParseDuration(n.Value)
	if err != nil {
		return Errorf(n, "%q is not a duration such as 90s, 1h or 7d", n.Value)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes the duration back in the same notation.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// String writes the duration in Prometheus's notation ("1d", "1h30m").
func (d Duration) String() string { return model.Duration(d).String() }

// Std returns the duration as a time.Duration.
func (d Duration) Std() time.Duration { return time.Duration(d) }

// Regexp is a regular expression from a config file, refused at load when
// it does not compile. It matches as written, unanchored (Go's regexp
// semantics): a probe's expect: "^220 " anchors itself where it means to.
// Anchored gives the same expression anchored at both ends, the way
// Prometheus and Alertmanager read label matchers (match_re). One type
// carries both because they are one expression read two ways, and each
// caller keeps the semantics it always had.
type Regexp struct {
	*regexp.Regexp
	anchored *regexp.Regexp
}

// NewRegexp compiles expr, and its anchored form.
func NewRegexp(expr string) (*Regexp, error) {
	re, err := regexp.Compile(expr)
	if err != nil {
		return nil, err
	}
	anchored, err := regexp.Compile("^(?:" + expr + ")$")
	if err != nil {
		return nil, err
	}
	return &Regexp{Regexp: re, anchored: anchored}, nil
}

// MustRegexp compiles expr or panics; for tests and built-in expressions.
func MustRegexp(expr string) *Regexp {
	r, err := NewRegexp(expr)
	if err != nil {
		panic(err)
	}
	return r
}

// Anchored returns the expression anchored at both ends: it matches a whole
// string or nothing. It is nil on a zero Regexp.
func (r *Regexp) Anchored() *regexp.Regexp { return r.anchored }

// UnmarshalYAML compiles the expression, naming its line when it does not.
func (r *Regexp) UnmarshalYAML(n *yaml.Node) error {
	var s string
	if err := n.Decode(&s); err != nil {
		return err
	}
	re, err := NewRegexp(s)
	if err != nil {
		return Errorf(n, "bad regular expression %q: %v", s, err)
	}
	*r = *re
	return nil
}

// MarshalYAML writes the expression back as written.
func (r Regexp) MarshalYAML() (any, error) {
	if r.Regexp == nil {
		return "", nil
	}
	return r.String(), nil
}

func kindName(k yaml.Kind) string {
	switch k {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "list"
	default:
		return "non-scalar"
	}
}
