package probe

import (
	"os"
	"strings"
	"testing"
)

// TestExampleConfig uncomments the probes section of examples/exporter.yml
// and loads it, so the example an operator copies always loads, and has a
// module per prober.
func TestExampleConfig(t *testing.T) {
	b, err := os.ReadFile("../../examples/exporter.yml")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	in := false
	for _, l := range strings.Split(string(b), "\n") {
		if l == "# probes:" {
			in = true
		}
		if !in {
			continue
		}
		if !strings.HasPrefix(l, "#") {
			break
		}
		out = append(out, strings.TrimPrefix(strings.TrimPrefix(l, "#"), " "))
	}
	if len(out) == 0 {
		t.Fatal(`examples/exporter.yml has no "# probes:" section`)
	}
	cfg := loadConfig(t, strings.Join(out, "\n"))
	seen := map[string]bool{}
	for _, m := range cfg.Modules {
		seen[m.Prober] = true
	}
	for _, p := range protocols {
		if !seen[p.name] {
			t.Errorf("example has no %s module", p.name)
		}
	}
	for _, tg := range cfg.Targets {
		if _, ok := cfg.Modules[tg.Module]; !ok {
			t.Errorf("target %s uses unknown module %s", tg.Target, tg.Module)
		}
	}
}
