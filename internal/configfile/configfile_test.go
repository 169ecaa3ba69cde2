package configfile

import (
	"os"
	"path/filepath"
	"testing"

	"gopkg.in/yaml.v3"
)

type port int

func (p *port) UnmarshalYAML(n *yaml.Node) error {
	var v int
	if err := n.Decode(&v); err != nil {
		return err
	}
	if v < 1 || v > 65535 {
		return Errorf(n, "port %d out of range 1..65535", v)
	}
	*p = port(v)
	return nil
}

type testConfig struct {
	Name  string `yaml:"name"`
	Ports []port `yaml:"ports"`
}

func TestDecode(t *testing.T) {
	tests := []struct {
		name, in, wantErr string
	}{
		{name: "ok", in: "name: a\nports: [25, 587]\n"},
		{name: "empty", in: ""},
		{name: "validation", in: "name: a\nports:\n  - 25\n  - 70000\n", wantErr: "f.yml:4: port 70000 out of range 1..65535"},
		{name: "unknown field", in: "name: a\nportz: [1]\n", wantErr: "f.yml:2: field portz not found in type configfile.testConfig"},
		{name: "type", in: "name: [x]\n", wantErr: "f.yml:1: cannot unmarshal !!seq into string"},
		{name: "syntax", in: "name: a\n  b: c\n", wantErr: "f.yml:2: mapping values are not allowed in this context"},
		{name: "two docs", in: "name: a\n---\nname: b\n", wantErr: "f.yml:2: more than one YAML document; expected exactly one"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c testConfig
			err := Decode("f.yml", []byte(tt.in), &c)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tt.wantErr {
				t.Fatalf("Decode error = %q, want %q", got, tt.wantErr)
			}
		})
	}
}

func TestLoadMissing(t *testing.T) {
	p := filepath.Join(t.TempDir(), "nope.yml")
	var c testConfig
	err := Load(p, &c)
	if err == nil {
		t.Fatal("missing file accepted")
	}
	fe, ok := err.(*FileError)
	if !ok || fe.File != p {
		t.Fatalf("want *FileError for %s, got %#v", p, err)
	}
	if err := os.WriteFile(p, []byte("name: ok\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Load(p, &c); err != nil || c.Name != "ok" {
		t.Fatalf("Load = %v, %+v", err, c)
	}
}
