package hostlab

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/synguard/synguard/internal/lab"
)

// firstPackaged is the first commit of main with `make package` (the merge
// of the packaging work, which already carries issue 14's names: the
// `firewall:` section, the backend-neutral metrics): the upgrade runs from
// its packages to the current tree's, so every later change of the state
// file or the configs must carry the installed ones along. (78e1065, where
// make package was first written, was built beside the restructuring with
// the old `firewalld:` section, which no release ever carried.)
const firstPackaged = "bfc3f8500f219c08246e21630bad33595eacbed6"

// suites are the three firewalld generations (0.9.3, 1.3.3, 2.3.1). nspawn
// shares this machine's kernel: they differ in user space only.
var suites = []string{"bookworm", "trixie", "bullseye"}

// perSuite bounds one suite's run (rootfs build ~30 s when not cached, the
// run itself ~40 s).
const perSuite = 5 * time.Minute

func cacheDir() string {
	if d := os.Getenv("SGH_CACHE"); d != "" {
		return d
	}
	return "/var/cache/synguard-hostlab"
}

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// run runs name args in dir, failing t with its output on error.
func run(t *testing.T, ctx context.Context, dir string, env []string, name string, args ...string) {
	t.Helper()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s (in %s): %v\n%s", name, strings.Join(args, " "), dir, err, out)
	}
}

// packages builds the amd64 .debs of the tree at dir into dist.
func packages(t *testing.T, ctx context.Context, dir, dist string) {
	t.Helper()
	run(t, ctx, dir, nil, "make", "package", "PKG_ARCHES=amd64", "DIST="+dist)
}

// oldPackages returns a directory with the first packaged commit's .debs,
// built once from a git worktree of it and cached by its hash.
func oldPackages(t *testing.T, ctx context.Context, root string) string {
	t.Helper()
	dist := filepath.Join(cacheDir(), "pkgs-"+firstPackaged[:7])
	if m, _ := filepath.Glob(filepath.Join(dist, "synguard-responder_*_amd64.deb")); len(m) == 1 {
		return dist
	}
	wt := filepath.Join(t.TempDir(), "first-packaged")
	run(t, ctx, root, nil, "git", "worktree", "add", "--detach", wt, firstPackaged)
	t.Cleanup(func() { _ = exec.Command("git", "-C", root, "worktree", "remove", "--force", wt).Run() })
	tmp := dist + ".tmp"
	_ = os.RemoveAll(tmp)
	packages(t, ctx, wt, tmp)
	if err := os.Rename(tmp, dist); err != nil {
		t.Fatal(err)
	}
	return dist
}

// labTool returns the package path of the lab binary name: test/lab/cmd/NAME
// (issue 14's layout) or test/NAME (before it).
func labTool(t *testing.T, root, name string) string {
	t.Helper()
	for _, p := range []string{"test/lab/cmd/" + name, "test/" + name} {
		if _, err := os.Stat(filepath.Join(root, p, "main.go")); err == nil {
			return "./" + p
		}
	}
	t.Fatalf("no lab binary %s under test/lab/cmd/ or test/", name)
	return ""
}

// TestHosts installs, uses, upgrades and removes the packages on booted
// bullseye, bookworm and trixie hosts, and follows the manual install on
// bookworm (hostlab.sh says each step). Runs can be picked with
// SGH_SUITES=bookworm,trixie-manual.
func TestHosts(t *testing.T) {
	lab.Need(t, "boots Debian hosts with systemd-nspawn in network namespaces it creates",
		"mmdebstrap", "systemd-nspawn", "nsenter", "ip", "nft", "ss", "python3", "git", "make", "pgrep")
	if _, err := os.Stat("/run/systemd/system"); err == nil {
		// nspawn --register=no --keep-unit is made for a machine without
		// systemd as PID 1 (CI's, this project's build machines).
		t.Log("the machine runs systemd as PID 1; nspawn still runs with --register=no --keep-unit")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(len(suites)+3)*perSuite)
	defer cancel()
	root := repoRoot(t)
	tmp := t.TempDir()
	newDebs := filepath.Join(tmp, "new")
	packages(t, ctx, root, newDebs)
	oldDebs := oldPackages(t, ctx, root)
	tools := filepath.Join(tmp, "tools")
	run(t, ctx, root, nil, "go", "build", "-o", tools+"/", labTool(t, root, "synflood"), labTool(t, root, "listener"))

	// Each suite with the packages; "bookworm-manual" follows
	// docs/deploy.md's manual install (its appendix) from the tarball.
	want := append(append([]string{}, suites...), "bookworm-manual")
	if s := os.Getenv("SGH_SUITES"); s != "" {
		want = strings.Split(s, ",")
	}
	for _, name := range want {
		suite, manual := strings.CutSuffix(name, "-manual")
		t.Run(name, func(t *testing.T) {
			sctx, scancel := context.WithTimeout(ctx, perSuite)
			defer scancel()
			cmd := exec.CommandContext(sctx, "bash", filepath.Join(root, "test/hostlab/hostlab.sh"), suite, newDebs, oldDebs, tools)
			if manual {
				cmd.Env = append(os.Environ(), "SGH_MANUAL=1")
			}
			// On a timeout, SIGTERM lets the script's trap stop the
			// container and remove the namespaces.
			cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
			cmd.WaitDelay = 30 * time.Second
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			start := time.Now()
			err := cmd.Run()
			for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
				if strings.HasPrefix(l, "hostlab[") || err != nil {
					t.Log(l)
				}
			}
			if err != nil {
				t.Fatalf("hostlab.sh %s: %v after %s", name, err, time.Since(start).Round(time.Second))
			}
			t.Logf("%s passed in %s", name, time.Since(start).Round(time.Second))
		})
	}

	// The .rpms' scriptlets, by this machine's rpm in a chroot of the
	// bookworm rootfs the runs above cached (no RHEL host runs here).
	t.Run("rpm-scriptlets", func(t *testing.T) {
		tars, _ := filepath.Glob(filepath.Join(cacheDir(), "bookworm-*.tar"))
		if len(tars) == 0 {
			t.Skip("no cached bookworm rootfs (run the bookworm suite first)")
		}
		sctx, scancel := context.WithTimeout(ctx, time.Minute)
		defer scancel()
		out, err := exec.CommandContext(sctx, "bash", filepath.Join(root, "test/hostlab/rpm.sh"), tars[len(tars)-1], newDebs, oldDebs).CombinedOutput()
		t.Logf("%s", out)
		if err != nil {
			t.Fatalf("rpm.sh: %v", err)
		}
	})
}
