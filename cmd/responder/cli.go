package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/alecthomas/kingpin/v2"

	"github.com/synguard/synguard/internal/daemon"
	"github.com/synguard/synguard/internal/operatorapi"
	"github.com/synguard/synguard/internal/responderconfig"
)

// The operator commands talk to a running responder's API. Unless told
// otherwise (flags, or SYNGUARD_API_URL and SYNGUARD_API_TOKEN_FILE), they
// go where the installed service listens and authenticate as it expects:
// the --web.listen-address and --config.file of ARGS in the unit's
// EnvironmentFile (the packages' /etc/default or /etc/sysconfig file), the
// API token of that config; without one, the host install's defaults
// (docs/deploy.md): 127.0.0.1:9818 and /etc/synguard/api.token. Root reads
// all of them.
const (
	defaultAPIURL       = "http://127.0.0.1:9818"
	defaultAPITokenFile = "/etc/synguard/api.token"
	envAPIURL           = "SYNGUARD_API_URL"
	envAPITokenFile     = "SYNGUARD_API_TOKEN_FILE"
	cliTimeout          = 30 * time.Second
)

// serviceEnvFiles are the packaged units' EnvironmentFiles (deb, rpm).
func serviceEnvFiles() []string {
	return []string{"/etc/default/synguard-responder", "/etc/sysconfig/synguard-responder"}
}

// cliFlags are the operator commands' flags.
type cliFlags struct {
	url, tokenFile, output   string
	prefix, duration, reason string
	// envFiles are where the service's ARGS are looked for; tests set it.
	envFiles []string
	// token is the bearer token the commands send, once resolved.
	token string
}

// addCLI registers the operator commands, fail2ban-client and cscli style:
// blocks list|add|rm, pause, resume. kingpin gives them shell completion
// (--completion-script-bash, --completion-script-zsh); blocks rm completes
// the prefixes blocked now.
func (m *Main) addCLI(app *kingpin.Application) {
	f := &m.cli
	app.Flag("api.url", "Operator commands: the responder's URL; default: the service's --web.listen-address (its EnvironmentFile's ARGS), else "+defaultAPIURL+".").
		Envar(envAPIURL).StringVar(&f.url)
	app.Flag("api.token-file", "Operator commands: the operator API's bearer token; default: the service's config's api.bearer_token_file, else "+defaultAPITokenFile+" (a missing file sends none).").
		Envar(envAPITokenFile).StringVar(&f.tokenFile)
	// They serve nothing: their configuration is loaded for the API's
	// address and token only, without the routes' check.
	b := app.Command("blocks", "List, add and remove blocks of a running responder.").PreAction(m.servesNothing)
	b.Command("list", "List the blocks in force, the alerts waiting for the rate limit or the cap, and whether the responder is paused.").
		Flag("output", "table or json.").Short('o').Default("table").EnumVar(&f.output, "table", "json")
	add := b.Command("add", "Block a prefix by hand (the policy's checks apply).")
	add.Arg("prefix", "The prefix or address to block, e.g. 198.51.100.32/27.").Required().StringVar(&f.prefix)
	add.Flag("duration", "How long, e.g. 90m, 2h, 7d; the policy's base duration when left out.").StringVar(&f.duration)
	add.Flag("reason", "Why, for the audit log and the list.").StringVar(&f.reason)
	rm := b.Command("rm", "Lift a block now.")
	rm.Arg("prefix", "The blocked prefix.").Required().HintAction(blockedPrefixes).StringVar(&f.prefix)
	app.Command("pause", "Pause the responder: it acknowledges block alerts and changes nothing in the firewall.").PreAction(m.servesNothing)
	app.Command("resume", "Resume a paused responder.").PreAction(m.servesNothing)
}

// withCLI adds the operator commands to the binary's own.
func (m *Main) withCLI(cmds map[string]func(context.Context, *daemon.Runtime, *responderconfig.Config) error) map[string]func(context.Context, *daemon.Runtime, *responderconfig.Config) error {
	for name, run := range map[string]func(context.Context, *daemon.Runtime, *responderconfig.Config) error{
		"blocks list": m.cliList, "blocks add": m.cliAdd, "blocks rm": m.cliRemove,
		"pause": m.cliPause(true), "resume": m.cliPause(false),
	} {
		cmds[name] = func(ctx context.Context, r *daemon.Runtime, cfg *responderconfig.Config) error {
			if err := m.cli.resolve(r.Flags.ConfigFile, cfg); err != nil {
				return err
			}
			return run(ctx, r, cfg)
		}
	}
	return cmds
}

// resolve fills in the address and the token the flags left out: from the
// service's EnvironmentFile, else the host install's defaults. configFile
// and cfg are this command's own --config.file and its configuration: the
// token of a config named on the command line wins over the service's.
func (f *cliFlags) resolve(configFile string, cfg *responderconfig.Config) error {
	args := serviceArgs(f.envFiles)
	if f.url == "" {
		f.url = defaultAPIURL
		if a := args["--web.listen-address"]; a != "" {
			f.url = "http://" + loopback(a)
		}
	}
	switch {
	case f.tokenFile != "":
		return f.readToken(f.tokenFile)
	case configFile != "" && cfg != nil:
		f.token = cfg.APIToken
	case args["--config.file"] != "":
		c, err := responderconfig.Load(args["--config.file"])
		if err != nil {
			return fmt.Errorf("the service's config (for its API token): %w", err)
		}
		f.token = c.APIToken
	default:
		return f.readToken(defaultAPITokenFile)
	}
	return nil
}

// readToken reads the bearer token from path; a missing file sends none
// (the list works without one).
func (f *cliFlags) readToken(path string) error {
	tok, err := os.ReadFile(path)
	switch {
	case err == nil:
		f.token = strings.TrimSpace(string(tok))
	case !errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("read the API token: %w", err)
	}
	return nil
}

// serviceArgs reads ARGS="..." from the first EnvironmentFile of files that
// exists (nil: the packaged units' paths) and returns its --flag=value
// pairs.
func serviceArgs(files []string) map[string]string {
	if files == nil {
		files = serviceEnvFiles()
	}
	out := map[string]string{}
	for _, path := range files {
		b, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			v, ok := strings.CutPrefix(strings.TrimSpace(line), "ARGS=")
			if !ok {
				continue
			}
			for _, a := range strings.Fields(strings.Trim(v, `"'`)) {
				if k, val, ok := strings.Cut(a, "="); ok && strings.HasPrefix(k, "--") {
					out[k] = val
				}
			}
		}
		return out
	}
	return out
}

// loopback turns a listen address into one to connect to on this host:
// ":9818" and "0.0.0.0:9818" are 127.0.0.1:9818, "[::]:9818" [::1]:9818.
func loopback(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return listen
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	return net.JoinHostPort(host, port)
}

// apiError is the API's answer to a request it refused.
type apiError struct {
	code int
	msg  string
}

func (e *apiError) Error() string {
	if e.code == http.StatusUnauthorized {
		return fmt.Sprintf("%s (401): pass the API token with --api.token-file, or the responder's config with --config.file", e.msg)
	}
	return fmt.Sprintf("%s (%d)", e.msg, e.code)
}

// call sends one request to the API and decodes its JSON answer into out.
func (m *Main) call(ctx context.Context, method, path string, body, out any) error {
	ctx, cancel := context.WithTimeout(ctx, cliTimeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(m.cli.url, "/")+path, rd)
	if err != nil {
		return fmt.Errorf("build request: %w", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if method != http.MethodGet && m.cli.token != "" {
		req.Header.Set("Authorization", "Bearer "+m.cli.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("reach the responder at %s: %w", m.cli.url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("read the responder's answer: %w", err)
	}
	if resp.StatusCode >= 300 {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(b, &e) != nil || e.Error == "" {
			e.Error = strings.TrimSpace(string(b))
		}
		return &apiError{code: resp.StatusCode, msg: e.Error}
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("decode the responder's answer: %w", err)
	}
	return nil
}

// blockList is GET /api/v1/blocks.
type blockList struct {
	Blocks  []operatorapi.BlockJSON `json:"blocks"`
	Waiting []struct {
		Prefix   string    `json:"prefix"`
		Alert    string    `json:"alert"`
		Since    time.Time `json:"since"`
		WaitsFor string    `json:"waits_for"`
	} `json:"waiting"`
	Paused      bool   `json:"paused"`
	DryRun      bool   `json:"dry_run"`
	Backend     string `json:"backend"`
	BackendMode string `json:"backend_mode"`
	BackendUp   bool   `json:"backend_up"`
}

func (m *Main) cliList(ctx context.Context, r *daemon.Runtime, _ *responderconfig.Config) error {
	var l blockList
	if err := m.call(ctx, http.MethodGet, "/api/v1/blocks", nil, &l); err != nil {
		return err
	}
	if m.cli.output == "json" {
		enc := json.NewEncoder(r.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(l)
	}
	printBlocks(r.Stdout, l, time.Now())
	return nil
}

// printBlocks writes the list as cscli decisions list does: one row per
// block, the time left, then the waiting alerts and the responder's state.
func printBlocks(w io.Writer, l blockList, now time.Time) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "PREFIX\tFAMILY\tSOURCE\tALERT\tREASON\tORIGIN\tSINCE\tEXPIRES IN\tOFFENCES\tAPPLIED")
	for _, b := range l.Blocks {
		org := "-"
		if b.Origin != nil && b.Origin.Known() {
			org = b.Origin.String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", b.Prefix, b.Family, dash(b.Source), dash(b.Alert), dash(b.Reason),
			org, b.Since.Local().Format("2006-01-02 15:04:05"), b.Expiry.Sub(now).Round(time.Second), b.Offences, yesNo(b.Applied))
	}
	tw.Flush()
	fmt.Fprintf(w, "%d blocks", len(l.Blocks))
	if len(l.Waiting) > 0 {
		fmt.Fprintf(w, "; %d alerts waiting:", len(l.Waiting))
		for _, a := range l.Waiting {
			fmt.Fprintf(w, " %s (%s, %s)", a.Prefix, a.WaitsFor, now.Sub(a.Since).Round(time.Second))
		}
	}
	state := "up"
	if !l.BackendUp {
		state = "UNREACHABLE"
	}
	fmt.Fprintf(w, ". Backend %s (%s) %s", l.Backend, l.BackendMode, state)
	if l.Paused {
		fmt.Fprint(w, "; PAUSED (synguard-responder resume)")
	}
	if l.DryRun {
		fmt.Fprint(w, "; dry run")
	}
	fmt.Fprintln(w, ".")
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "pending"
}

func (m *Main) cliAdd(ctx context.Context, r *daemon.Runtime, _ *responderconfig.Config) error {
	var res struct {
		New   bool                  `json:"new"`
		Block operatorapi.BlockJSON `json:"block"`
	}
	req := map[string]string{"prefix": m.cli.prefix, "duration": m.cli.duration, "reason": m.cli.reason}
	if err := m.call(ctx, http.MethodPost, "/api/v1/blocks", req, &res); err != nil {
		return fmt.Errorf("block %s: %w", m.cli.prefix, err)
	}
	verb := "blocked"
	if !res.New {
		verb = "already blocked"
	}
	fmt.Fprintf(r.Stdout, "%s %s until %s (offence %d, %s)\n", verb, res.Block.Prefix,
		res.Block.Expiry.Local().Format("2006-01-02 15:04:05"), res.Block.Offences, applied(res.Block.Applied))
	return nil
}

func (m *Main) cliRemove(ctx context.Context, r *daemon.Runtime, _ *responderconfig.Config) error {
	var res struct {
		Prefix  string `json:"prefix"`
		Applied bool   `json:"applied"`
	}
	if err := m.call(ctx, http.MethodDelete, "/api/v1/blocks/"+url.PathEscape(m.cli.prefix), nil, &res); err != nil {
		return fmt.Errorf("lift %s: %w", m.cli.prefix, err)
	}
	fmt.Fprintf(r.Stdout, "lifted %s (%s)\n", res.Prefix, applied(res.Applied))
	return nil
}

func applied(ok bool) string {
	if ok {
		return "applied in the firewall"
	}
	return "not confirmed by the firewall yet: the responder retries"
}

func (m *Main) cliPause(pause bool) func(context.Context, *daemon.Runtime, *responderconfig.Config) error {
	return func(ctx context.Context, r *daemon.Runtime, _ *responderconfig.Config) error {
		method := http.MethodPost
		if !pause {
			method = http.MethodDelete
		}
		var res struct {
			Paused bool `json:"paused"`
		}
		if err := m.call(ctx, method, "/api/v1/pause", nil, &res); err != nil {
			return err
		}
		if res.Paused {
			fmt.Fprintln(r.Stdout, "paused: block alerts are acknowledged and change nothing until synguard-responder resume")
		} else {
			fmt.Fprintln(r.Stdout, "resumed: block alerts are applied again")
		}
		return nil
	}
}

// blockedPrefixes completes blocks rm with the prefixes blocked now. kingpin
// asks before it sets the flags, so the address is the environment's, the
// service's or the default.
func blockedPrefixes() []string {
	c := &Main{cli: cliFlags{url: os.Getenv(envAPIURL)}}
	if c.cli.url == "" {
		c.cli.url = defaultAPIURL
		if a := serviceArgs(nil)["--web.listen-address"]; a != "" {
			c.cli.url = "http://" + loopback(a)
		}
	}
	var l blockList
	if c.call(context.Background(), http.MethodGet, "/api/v1/blocks", nil, &l) != nil {
		return nil
	}
	out := make([]string, 0, len(l.Blocks))
	for _, b := range l.Blocks {
		out = append(out, b.Prefix)
	}
	return out
}
