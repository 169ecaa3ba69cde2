package compose

import (
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// composeFile is the part of docker-compose.yml this test reads.
type composeFile struct {
	Services map[string]struct {
		Command []string `yaml:"command"`
		Volumes []string `yaml:"volumes"`
	} `yaml:"services"`
}

// mount is one volume: a host source (relative to the repository, or a
// named volume or absolute host path) at a container path.
type mount struct{ src, dst string }

func parseMount(v string) mount {
	parts := strings.Split(v, ":")
	m := mount{src: parts[0]}
	if len(parts) > 1 {
		m.dst = parts[1]
	}
	return m
}

// pathKey matches the config keys that name a file or directory: Prometheus'
// and Alertmanager's *_file/*_files, synguard's state_file and
// bearer_token_file, Grafana provisioning's path.
var pathKey = regexp.MustCompile(`(^|_)(file|files|path|dir)$`)

// namedPaths returns every path value under a path-like key in the YAML
// document n.
func namedPaths(n *yaml.Node, key string, out *[]string) {
	switch n.Kind {
	case yaml.DocumentNode, yaml.SequenceNode:
		for _, c := range n.Content {
			namedPaths(c, key, out)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			namedPaths(n.Content[i+1], n.Content[i].Value, out)
		}
	case yaml.ScalarNode:
		// metrics_path is a URL's path on the scraped target (/metrics,
		// /probe), not a file.
		if pathKey.MatchString(key) && key != "metrics_path" && n.Value != "" && !strings.Contains(n.Value, "://") {
			*out = append(*out, n.Value)
		}
	}
}

// covered reports whether container path p (globs allowed in its last
// elements) lies in one of mounts.
func covered(p string, mounts []mount) bool {
	if i := strings.IndexAny(p, "*?["); i >= 0 {
		p = path.Dir(p[:i] + "x")
	}
	for _, m := range mounts {
		if m.dst == "" {
			continue
		}
		if p == m.dst || strings.HasPrefix(p, strings.TrimSuffix(m.dst, "/")+"/") {
			return true
		}
	}
	return false
}

// TestMountedConfigsNameOnlyMountedFiles reads every config file
// docker-compose.yml mounts from the repository (and the YAML files of
// mounted directories) and checks that each file it names is mounted too.
func TestMountedConfigsNameOnlyMountedFiles(t *testing.T) {
	repo := "../.."
	b, err := os.ReadFile(filepath.Join(repo, "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var cf composeFile
	if err := yaml.Unmarshal(b, &cf); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	if len(cf.Services) == 0 {
		t.Fatal("docker-compose.yml has no services")
	}
	checked := 0
	for name, svc := range cf.Services {
		var mounts []mount
		for _, v := range svc.Volumes {
			mounts = append(mounts, parseMount(v))
		}
		// The command's file flags (--config.file, --web.config.file, ...).
		for _, arg := range svc.Command {
			if k, v, ok := strings.Cut(strings.TrimPrefix(arg, "--"), "="); ok && strings.HasSuffix(k, ".file") && v != "" {
				if !covered(v, mounts) {
					t.Errorf("service %s: %s names %s, which no volume mounts", name, arg, v)
				}
			}
		}
		for _, m := range mounts {
			if !strings.HasPrefix(m.src, "./") {
				continue // named volumes and host paths: nothing to read here
			}
			host := filepath.Join(repo, m.src)
			st, err := os.Stat(host)
			if err != nil {
				if strings.HasPrefix(m.src, "./deploy/secrets/") {
					continue // the operator's tokens, not in the repository
				}
				t.Errorf("service %s mounts %s, which does not exist: %v", name, m.src, err)
				continue
			}
			var files []string
			if st.IsDir() {
				_ = filepath.WalkDir(host, func(p string, d os.DirEntry, err error) error {
					if err == nil && !d.IsDir() && (strings.HasSuffix(p, ".yml") || strings.HasSuffix(p, ".yaml")) {
						files = append(files, p)
					}
					return nil
				})
			} else if strings.HasSuffix(host, ".yml") || strings.HasSuffix(host, ".yaml") {
				files = []string{host}
			}
			for _, f := range files {
				rel, _ := filepath.Rel(host, f)
				inContainer := path.Join(m.dst, filepath.ToSlash(rel))
				if !st.IsDir() {
					inContainer = m.dst
				}
				data, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				var doc yaml.Node
				if err := yaml.Unmarshal(data, &doc); err != nil {
					t.Errorf("%s: %v", f, err)
					continue
				}
				var named []string
				namedPaths(&doc, "", &named)
				for _, p := range named {
					if !path.IsAbs(p) {
						p = path.Join(path.Dir(inContainer), p)
					}
					checked++
					if !covered(p, mounts) {
						t.Errorf("service %s: %s (mounted at %s) names %s, which no volume of the service mounts",
							name, m.src, inContainer, p)
					}
				}
			}
		}
	}
	if checked == 0 {
		t.Fatal("no file named by any mounted config: the test reads nothing")
	}
	t.Logf("%d files named by mounted configs checked", checked)
}

// TestCoveredSeesAMissingMount is the check failing where it must: a
// config naming a file outside every mount.
func TestCoveredSeesAMissingMount(t *testing.T) {
	mounts := []mount{{"./a.yml", "/etc/synguard/responder.yml"}, {"./t", "/etc/synguard/webhook.token"}, {"./rules", "/etc/prometheus/rules"}}
	for p, want := range map[string]bool{
		"/etc/synguard/webhook.token":  true,
		"/etc/synguard/api.token":      false,
		"/etc/prometheus/rules/*.yml":  true,
		"/etc/prometheus/rulesx/a.yml": false,
	} {
		if got := covered(p, mounts); got != want {
			t.Errorf("covered(%s) = %v, want %v", p, got, want)
		}
	}
}
