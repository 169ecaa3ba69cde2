package lab

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// Need skips t unless it runs as root with every one of tools on PATH. why
// says what the test does that needs them ("runs a real firewalld in its own
// network namespace"); the skip message names the first missing tool. CI
// runs as root with .ci/packages installed, so there these tests always run.
func Need(t testing.TB, why string, tools ...string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skipf("needs root: %s (CI runs as root)", why)
	}
	var missing []string
	for _, bin := range tools {
		if _, err := exec.LookPath(bin); err != nil {
			missing = append(missing, bin)
		}
	}
	if len(missing) > 0 {
		t.Skipf("needs %s on PATH: %s (bash scripts/install-deps.sh installs them)", strings.Join(missing, ", "), why)
	}
}
