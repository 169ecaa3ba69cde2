package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/synguard/synguard/internal/daemontest"
	"github.com/synguard/synguard/internal/firewalld/firewalldtest"
	"github.com/synguard/synguard/internal/operatorapi"
	"github.com/synguard/synguard/internal/origin"
)

// cli runs one synguard-responder command as the shell would, and returns
// its exit code, stdout and stderr.
func cli(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errs bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	code := NewMain(&out, &errs).Main(ctx, args)
	return code, out.String(), errs.String()
}

// TestCLI drives blocks add|list|rm, pause and resume and the shell
// completion against a running responder (on the fake firewalld), as an
// operator on the host would, token file and all.
func TestCLI(t *testing.T) {
	_, addr := firewalldtest.Start(t)
	dir := t.TempDir()
	token := filepath.Join(dir, "api.token")
	if err := os.WriteFile(token, []byte("op-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := startResponder(t, "--dbus.address="+addr, "--config.file="+writeConfig(t, "api:\n  bearer_token_file: "+token+"\n"))
	waitFor(t, "backend_up", func() bool {
		return metricLine(r.metrics(t), `synguard_responder_backend_up{backend="firewalld",mode="ipset"} 1`)
	})
	api := []string{"--api.url=" + r.URL, "--api.token-file=" + token}
	run := func(args ...string) (int, string, string) { return cli(t, append(args, api...)...) }

	code, out, errs := run("blocks", "add", "198.51.100.32/27", "--duration=2h", "--reason=netstat by hand")
	if code != 0 || !strings.Contains(out, "blocked 198.51.100.32/27 until") || !strings.Contains(out, "applied in the firewall") {
		t.Fatalf("blocks add: %d %q %q", code, out, errs)
	}
	if code, out, _ := run("blocks", "add", "198.51.100.33/27"); code != 0 || !strings.Contains(out, "already blocked 198.51.100.32/27") {
		t.Errorf("blocks add again: %d %q", code, out)
	}
	if code, _, errs := run("blocks", "add", "10.0.0.0/8"); code != 1 || !strings.Contains(errs, "refused by policy") {
		t.Errorf("blocks add /8: %d %q, want 1 and the policy's refusal", code, errs)
	}
	code, out, errs = run("blocks", "list")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 3 || !strings.HasPrefix(lines[0], "PREFIX ") || !strings.Contains(lines[0], "EXPIRES IN") {
		t.Fatalf("blocks list: %d %q %q", code, out, errs)
	}
	for _, want := range []string{"198.51.100.32/27", "ipv4", "manual", "netstat by hand", "yes"} {
		if !strings.Contains(lines[1], want) {
			t.Errorf("blocks list row %q lacks %q", lines[1], want)
		}
	}
	if !regexp.MustCompile(`\s(2h0m0s|1h59m5[0-9]s)\s`).MatchString(lines[1]) {
		t.Errorf("blocks list row %q: no time left of about 2h", lines[1])
	}
	if !strings.Contains(lines[2], "1 blocks. Backend firewalld (ipset) up.") {
		t.Errorf("blocks list summary: %q", lines[2])
	}
	code, out, _ = run("blocks", "list", "-o", "json")
	var l blockList
	if code != 0 || json.Unmarshal([]byte(out), &l) != nil || len(l.Blocks) != 1 || l.Blocks[0].Prefix != "198.51.100.32/27" {
		t.Errorf("blocks list -o json: %d %q", code, out)
	}

	// Shell completion, from the built binary (kingpin writes it to the
	// process's own stdout): the bash script, and blocks rm offers what is
	// blocked now, from the API the environment names.
	bin := daemontest.Build(t, ".", "synguard-responder")
	complete := func(args ...string) string {
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), envAPIURL+"="+r.URL)
		out, err := cmd.Output()
		if err != nil {
			t.Errorf("%v: %v", args, err)
		}
		return string(out)
	}
	if out := complete("--completion-script-bash"); !strings.Contains(out, "complete -F") || !strings.Contains(out, "synguard-responder") {
		t.Errorf("--completion-script-bash: %q", out)
	}
	if out := complete("--completion-bash", "blocks"); !strings.Contains(out, "list") || !strings.Contains(out, "rm") {
		t.Errorf("completion of blocks: %q", out)
	}
	if out := complete("--completion-bash", "blocks", "rm"); strings.TrimSpace(out) != "198.51.100.32/27" {
		t.Errorf("completion of blocks rm: %q, want the blocked prefix", out)
	}

	if code, out, _ := run("pause"); code != 0 || !strings.Contains(out, "paused") {
		t.Errorf("pause: %d %q", code, out)
	}
	if code, out, _ := run("blocks", "list"); code != 0 || !strings.Contains(out, "PAUSED") {
		t.Errorf("blocks list while paused: %d %q", code, out)
	}
	if code, out, _ := run("resume"); code != 0 || !strings.Contains(out, "resumed") {
		t.Errorf("resume: %d %q", code, out)
	}

	// Without the token the API refuses changes, and the CLI says what to do.
	if code, _, errs := cli(t, "pause", "--api.url="+r.URL, "--api.token-file="+filepath.Join(dir, "missing")); code != 1 || !strings.Contains(errs, "--api.token-file") {
		t.Errorf("pause without a token: %d %q", code, errs)
	}
	if code, out, errs := run("blocks", "rm", "198.51.100.32/27"); code != 0 || !strings.Contains(out, "lifted 198.51.100.32/27") {
		t.Errorf("blocks rm: %d %q %q", code, out, errs)
	}
	if code, _, errs := run("blocks", "rm", "198.51.100.32/27"); code != 1 || !strings.Contains(errs, "is not blocked") {
		t.Errorf("blocks rm again: %d %q", code, errs)
	}
	if code, out, _ := run("blocks", "list"); code != 0 || !strings.Contains(out, "0 blocks.") {
		t.Errorf("blocks list after rm: %d %q", code, out)
	}
	// Nothing listens: the error names the address.
	if code, _, errs := cli(t, "blocks", "list", "--api.url=http://"+refusedLoopback(t)); code != 1 || !strings.Contains(errs, "reach the responder") {
		t.Errorf("blocks list, no responder: %d %q", code, errs)
	}
}

// TestCLIDefaults: with no flags the commands go where the installed
// service listens, with the token of its config, read from ARGS in its
// EnvironmentFile; without that file, where the host install puts them.
// Flags and the environment win over both.
func TestCLIDefaults(t *testing.T) {
	dir := t.TempDir()
	none := []string{filepath.Join(dir, "no-such-env-file")}
	f := cliFlags{envFiles: none}
	if err := f.resolve("", nil); err != nil || f.url != "http://127.0.0.1:9818" {
		t.Errorf("host install defaults: %q %v", f.url, err)
	}

	token := filepath.Join(dir, "api.token")
	os.WriteFile(token, []byte("from-the-service\n"), 0o600)
	cfg := writeConfig(t, "api:\n  bearer_token_file: "+token+"\n")
	env := filepath.Join(dir, "synguard-responder")
	os.WriteFile(env, []byte("# Flags of synguard-responder\nARGS=\"--config.file="+cfg+" --web.listen-address=:19818\"\n"), 0o644)
	f = cliFlags{envFiles: append(none, env)}
	if err := f.resolve("", nil); err != nil || f.url != "http://127.0.0.1:19818" || f.token != "from-the-service" {
		t.Errorf("from the EnvironmentFile: %q %q %v", f.url, f.token, err)
	}

	other := filepath.Join(dir, "other.token")
	os.WriteFile(other, []byte("mine\n"), 0o600)
	f = cliFlags{envFiles: []string{env}, url: "http://[::1]:9999", tokenFile: other}
	if err := f.resolve("", nil); err != nil || f.url != "http://[::1]:9999" || f.token != "mine" {
		t.Errorf("flags first: %q %q %v", f.url, f.token, err)
	}

	// The environment variables are the flags'.
	t.Setenv(envAPIURL, "http://127.0.0.1:29818")
	t.Setenv(envAPITokenFile, other)
	m := NewMain(&bytes.Buffer{}, &bytes.Buffer{})
	m.Main(context.Background(), []string{"--config.check"})
	if m.cli.url != "http://127.0.0.1:29818" || m.cli.tokenFile != other {
		t.Errorf("from the environment: %q %q", m.cli.url, m.cli.tokenFile)
	}
	for in, want := range map[string]string{":9818": "127.0.0.1:9818", "0.0.0.0:1": "127.0.0.1:1", "[::]:2": "[::1]:2", "192.0.2.1:3": "192.0.2.1:3"} {
		if got := loopback(in); got != want {
			t.Errorf("loopback(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestPrintBlocks(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	l := blockList{Backend: "nftables", BackendMode: "table", Paused: true}
	l.Blocks = []operatorapi.BlockJSON{{Prefix: "2001:db8:1::/64", Family: "ipv6", Source: "alert", Alert: "SynguardPrefixFlooding",
		Origin: &origin.Info{ASN: 64496, ASOrg: "Example Net", Country: "ZZ"}, Since: now.Add(-time.Hour), Expiry: now.Add(90 * time.Minute), Offences: 2}}
	var b bytes.Buffer
	printBlocks(&b, l, now)
	got := b.String()
	for _, want := range []string{"2001:db8:1::/64", "SynguardPrefixFlooding", "AS64496", "1h30m0s", "pending", "UNREACHABLE", "PAUSED"} {
		if !strings.Contains(got, want) {
			t.Errorf("table lacks %q:\n%s", want, got)
		}
	}
}

// refusedLoopback returns a loopback address where nothing listens.
func refusedLoopback(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}
