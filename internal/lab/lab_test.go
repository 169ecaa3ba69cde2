package lab

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// skipT records a skip instead of skipping the real test.
type skipT struct {
	testing.TB
	skipped string
}

func (s *skipT) Helper() {}
func (s *skipT) Skipf(format string, args ...any) {
	if s.skipped == "" {
		s.skipped = fmt.Sprintf(format, args...)
	}
}

// Need skips, naming what the test does and what is missing: root first,
// then every missing tool; with root and the tools it does not skip.
func TestNeed(t *testing.T) {
	st := &skipT{TB: t}
	Need(st, "makes a namespace", "sh", "no-such-tool-sg1", "no-such-tool-sg2")
	switch {
	case os.Geteuid() != 0:
		if !strings.Contains(st.skipped, "needs root: makes a namespace") {
			t.Fatalf("not root, skip says %q", st.skipped)
		}
	case !strings.Contains(st.skipped, "needs no-such-tool-sg1, no-such-tool-sg2 on PATH: makes a namespace"):
		t.Fatalf("root, skip says %q", st.skipped)
	}
	st = &skipT{TB: t}
	Need(st, "runs sh", "sh")
	if os.Geteuid() == 0 && st.skipped != "" {
		t.Fatalf("root with sh on PATH, but skipped: %q", st.skipped)
	}
}

func TestRepoRoot(t *testing.T) {
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"test/lab/loop.sh", "test/lab/fleet.sh", "test/lab/firewalld.sh"} {
		if _, err := os.Stat(filepath.Join(root, f)); err != nil {
			t.Errorf("repository root %s: %v", root, err)
		}
	}
}
