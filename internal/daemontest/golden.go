package daemontest

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// update is `go test -update`. It is registered here, once, because a flag
// must exist before the testing package parses the command line; every
// test binary that imports daemontest accepts it, so no test package
// defines its own (two would panic: flag redefined).
var update = flag.Bool("update", false, "rewrite golden files (daemontest.Golden) from the current output")

// Update reports whether the test runs with -update.
func Update() bool { return *update }

// Golden compares got with the file at path and fails the test with a
// cmp.Diff (-want +got) when they differ. Under -update it first writes got
// to path (creating its directory), so the test passes and the change
// shows in git diff.
func Golden(t testing.TB, path, got string) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatalf("update %s: %v", path, err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatalf("update %s: %v", path, err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("golden file: %v (go test -update writes it)", err)
	}
	// Compared as lines, so the report shows exactly the lines that
	// changed, however short the file.
	if diff := cmp.Diff(strings.Split(string(want), "\n"), strings.Split(got, "\n")); diff != "" {
		t.Errorf("output differs from %s (-want +got; go test -update rewrites it if the change is meant):\n%s", path, diff)
	}
}
