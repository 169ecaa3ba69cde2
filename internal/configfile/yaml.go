package configfile

import (
	"reflect"
	"strings"

	"gopkg.in/yaml.v3"
)

// Field returns the value node of key in mapping n, or nil when n is not a
// mapping or has no such key. A section's UnmarshalYAML uses it to point an
// error at the field it refuses.
func Field(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// At returns the node at a dotted path ("policy.block_duration.max") below
// n (a document or a mapping node), or the deepest node found on the way, so
// that an error about a field left out still points at its section.
func At(n *yaml.Node, path string) *yaml.Node {
	if n == nil {
		return nil
	}
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	for _, key := range strings.Split(path, ".") {
		next := Field(n, key)
		if next == nil {
			return n
		}
		n = next
	}
	return n
}

// Or returns a when it is not nil, else b: the field's own line when the
// field is there, its section's line when it was left out.
func Or(a, b *yaml.Node) *yaml.Node {
	if a != nil {
		return a
	}
	return b
}

var unmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()

// StrictDecode decodes n into out (a pointer) and refuses any key that out's
// type, or a type below it, does not have; name is the type's name in the
// error ("probe.Module"). It exists because yaml.v3's KnownFields does not
// reach into a custom UnmarshalYAML: the node's own Decode is lenient, so a
// section that validates itself must check its keys itself. Types below out
// that have their own UnmarshalYAML are left to check themselves.
func StrictDecode(n *yaml.Node, out any, name string) error {
	if err := checkKnown(n, reflect.TypeOf(out).Elem(), name); err != nil {
		return err
	}
	return n.Decode(out)
}

func checkKnown(n *yaml.Node, t reflect.Type, name string) error {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n == nil {
		return nil
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if name == "" && reflect.PointerTo(t).Implements(unmarshalerType) {
		return nil // it checks itself
	}
	switch t.Kind() {
	case reflect.Struct:
		return checkStruct(n, t, name)
	case reflect.Slice:
		if n.Kind == yaml.SequenceNode {
			for _, c := range n.Content {
				if err := checkKnown(c, t.Elem(), ""); err != nil {
					return err
				}
			}
		}
	case reflect.Map:
		if n.Kind == yaml.MappingNode {
			for i := 1; i < len(n.Content); i += 2 {
				if err := checkKnown(n.Content[i], t.Elem(), ""); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func checkStruct(n *yaml.Node, t reflect.Type, name string) error {
	if n.Kind != yaml.MappingNode {
		return nil // Decode reports the type mistake
	}
	if name == "" {
		name = t.Name()
	}
	fields := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		key, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if key == "-" {
			continue
		}
		if key == "" {
			key = strings.ToLower(f.Name)
		}
		fields[key] = f.Type
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		ft, ok := fields[n.Content[i].Value]
		if !ok {
			return Errorf(n.Content[i], "field %s not found in type %s", n.Content[i].Value, name)
		}
		if err := checkKnown(n.Content[i+1], ft, ""); err != nil {
			return err
		}
	}
	return nil
}
