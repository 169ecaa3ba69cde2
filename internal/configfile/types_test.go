package configfile

import (
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

func TestDuration(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Duration
		wantErr string
	}{
		{in: "30s", want: 30 * time.Second},
		{in: "500ms", want: 500 * time.Millisecond},
		{in: "1h30m", want: 90 * time.Minute},
		{in: "1d", want: 24 * time.Hour},
		{in: "7d", want: 7 * 24 * time.Hour},
		{in: "1w", want: 7 * 24 * time.Hour},
		{in: "0s", want: 0},
		{in: "soon", wantErr: `f.yml:1: "soon" is not a duration such as 90s, 1h or 7d`},
		{in: "1.5s", wantErr: `f.yml:1: "1.5s" is not a duration such as 90s, 1h or 7d`},
		{in: "-1s", wantErr: `f.yml:1: "-1s" is not a duration such as 90s, 1h or 7d`},
		{in: "[1s]", wantErr: "f.yml:1: a duration such as 90s, 1h or 7d is one word, not a list"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			var c struct {
				D Duration `yaml:"d"`
			}
			err := Decode("f.yml", []byte("d: "+tt.in+"\n"), &c)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("Decode(%q) error = %v, want %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil || c.D.Std() != tt.want {
				t.Fatalf("Decode(%q) = %v, %v; want %v", tt.in, c.D, err, tt.want)
			}
			out, err := yaml.Marshal(c)
			if err != nil {
				t.Fatal(err)
			}
			var back struct {
				D Duration `yaml:"d"`
			}
			if err := Decode("back.yml", out, &back); err != nil || back.D != c.D {
				t.Fatalf("round trip of %q through %q = %v, %v", tt.in, out, back.D, err)
			}
		})
	}
}

func TestRegexp(t *testing.T) {
	var c struct {
		R *Regexp `yaml:"r"`
	}
	if err := Decode("f.yml", []byte("r: \"ab|cd\"\n"), &c); err != nil {
		t.Fatal(err)
	}
	// As written: unanchored, as a probe's expect is matched.
	for s, want := range map[string]bool{"xxabxx": true, "cd": true, "xy": false} {
		if got := c.R.MatchString(s); got != want {
			t.Errorf("MatchString(%q) = %v, want %v", s, got, want)
		}
	}
	// Anchored: the whole of the string, as a label matcher is matched;
	// the group makes the anchors hold for both alternatives.
	for s, want := range map[string]bool{"ab": true, "cd": true, "abcd": false, "xab": false, "cdx": false} {
		if got := c.R.Anchored().MatchString(s); got != want {
			t.Errorf("Anchored().MatchString(%q) = %v, want %v", s, got, want)
		}
	}
	out, err := yaml.Marshal(c)
	if err != nil || strings.TrimSpace(string(out)) != "r: ab|cd" {
		t.Fatalf("Marshal = %q, %v", out, err)
	}
	err = Decode("f.yml", []byte("r: ok\nq: 1\n"), &struct {
		R Regexp `yaml:"r"`
	}{})
	if err == nil {
		t.Fatal("unknown field beside a Regexp accepted")
	}
	err = Decode("f.yml", []byte("\nr: \"(\"\n"), &c)
	want := "f.yml:2: bad regular expression \"(\": error parsing regexp: missing closing ): `(`"
	if err == nil || err.Error() != want {
		t.Fatalf("bad regexp error = %v, want %q", err, want)
	}
}

type inner struct {
	A int `yaml:"a"`
}

type outer struct {
	Name  string           `yaml:"name"`
	Items []inner          `yaml:"items"`
	ByKey map[string]inner `yaml:"by_key"`
	Ptr   *inner           `yaml:"ptr"`
	D     Duration         `yaml:"d"`
}

// section validates itself, as every config section does, with
// StrictDecode for its keys and Field for the line of what it refuses.
type section outer

func (s *section) UnmarshalYAML(n *yaml.Node) error {
	var p outer
	if err := StrictDecode(n, &p, "test.section"); err != nil {
		return err
	}
	if p.Name == "bad" {
		return Errorf(Or(Field(n, "name"), n), "name %q refused", p.Name)
	}
	*s = section(p)
	return nil
}

func TestStrictDecode(t *testing.T) {
	tests := []struct{ name, in, wantErr string }{
		{name: "ok", in: "s:\n  name: a\n  items: [{a: 1}]\n  by_key: {x: {a: 2}}\n  ptr: {a: 3}\n  d: 1d\n"},
		{name: "top key", in: "s:\n  nam: a\n", wantErr: "f.yml:2: field nam not found in type test.section"},
		{name: "in a list", in: "s:\n  items:\n    - {a: 1}\n    - {b: 1}\n", wantErr: "f.yml:4: field b not found in type inner"},
		{name: "in a map", in: "s:\n  by_key:\n    x: {c: 1}\n", wantErr: "f.yml:3: field c not found in type inner"},
		{name: "behind a pointer", in: "s:\n  ptr:\n    d: 1\n", wantErr: "f.yml:3: field d not found in type inner"},
		{name: "through an alias", in: "x: &x {z: 1}\ns:\n  ptr: *x\n", wantErr: "f.yml:1: field z not found in type inner"},
		{name: "validation", in: "s:\n  items: []\n  name: bad\n", wantErr: `f.yml:3: name "bad" refused`},
		{name: "duration", in: "s:\n  d: 1.5s\n", wantErr: `f.yml:2: "1.5s" is not a duration such as 90s, 1h or 7d`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c struct {
				X map[string]int `yaml:"x"`
				S section        `yaml:"s"`
			}
			err := Decode("f.yml", []byte(tt.in), &c)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tt.wantErr {
				t.Fatalf("error = %q, want %q", got, tt.wantErr)
			}
			if tt.wantErr == "" && (c.S.Ptr == nil || c.S.Ptr.A != 3 || c.S.D.Std() != 24*time.Hour) {
				t.Fatalf("decoded %+v", c.S)
			}
		})
	}
}

func TestAt(t *testing.T) {
	var root yaml.Node
	in := "a:\n  b:\n    c: 1\n  d: 2\ne: 3\n"
	if err := yaml.Unmarshal([]byte(in), &root); err != nil {
		t.Fatal(err)
	}
	for path, line := range map[string]int{"a.b.c": 3, "a.d": 4, "e": 5, "a.b.missing": 3, "missing": 1} {
		if got := At(&root, path); got == nil || got.Line != line {
			t.Errorf("At(%q) = line %v, want %d", path, got, line)
		}
	}
	if Field(&root, "a") != nil {
		t.Error("Field on a document node found a key; it takes a mapping")
	}
	if At(nil, "a") != nil || Field(nil, "a") != nil {
		t.Error("nil node gave a node")
	}
}
