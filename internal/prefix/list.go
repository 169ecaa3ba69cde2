package prefix

import (
	"net/netip"

	"gopkg.in/yaml.v3"

	"github.com/synguard/synguard/internal/configfile"
)

// List is a configuration list of prefixes (or bare addresses), each in
// canonical form, such as an allowlist.
type List []netip.Prefix

// UnmarshalYAML parses each entry with Parse, naming the line of a bad one.
func (l *List) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.SequenceNode {
		return configfile.Errorf(n, "expected a list of prefixes such as [192.0.2.0/24]")
	}
	out := make(List, 0, len(n.Content))
	for _, e := range n.Content {
		if e.Kind != yaml.ScalarNode {
			return configfile.Errorf(e, "expected a prefix such as 192.0.2.0/24")
		}
		p, err := Parse(e.Value)
		if err != nil {
			return configfile.Errorf(e, "%v", err)
		}
		out = append(out, p)
	}
	*l = out
	return nil
}
