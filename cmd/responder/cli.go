package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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

// The operator commands talk to a running responder's API. Their defaults
// are the host install's (docs/deploy.md): the responder on 127.0.0.1:9818,
// the API token in /etc/synguard/api.token, readable by root; the unit's
// EnvironmentFile may set the same two through the environment variables.
const (
	defaultAPIURL       = "http://127.0.0.1:9818"
	defaultAPITokenFile = "/etc/synguard/api.token"
	envAPIURL           = "SYNGUARD_API_URL"
	envAPITokenFile     = "SYNGUARD_API_TOKEN_FILE"
	cliTimeout          = 30 * time.Second
)

// cliFlags are the operator commands' flags.
type cliFlags struct {
	url, tokenFile, output   string
	prefix, duration, reason string
}

// addCLI registers the operator commands, fail2ban-client and cscli style:
// blocks list|add|rm, pause, resume. kingpin gives them shell completion
// (--completion-script-bash, --completion-script-zsh); blocks rm completes
// the prefixes blocked now.
func (m *Main) addCLI(app *kingpin.Application) {
	f := &m.cli
	app.Flag("api.url", "Operator commands: the responder's address (its --web.listen-address).").
		Envar(envAPIURL).Default(defaultAPIURL).StringVar(&f.url)
	app.Flag("api.token-file", "Operator commands: the operator API's bearer token (api.bearer_token_file); a missing file sends none.").
		Envar(envAPITokenFile).Default(defaultAPITokenFile).StringVar(&f.tokenFile)
	b := app.Command("blocks", "List, add and remove blocks of a running responder.")
	b.Command("list", "List the blocks in force, the alerts waiting for the rate limit or the cap, and whether the responder is paused.").
		Flag("output", "table or json.").Short('o').Default("table").EnumVar(&f.output, "table", "json")
	add := b.Command("add", "Block a prefix by hand (the policy's checks apply).")
	add.Arg("prefix", "The prefix or address to block, e.g. 198.51.100.32/27.").Required().StringVar(&f.prefix)
	add.Flag("duration", "How long, e.g. 90m, 2h, 7d; the policy's base duration when left out.").StringVar(&f.duration)
	add.Flag("reason", "Why, for the audit log and the list.").StringVar(&f.reason)
	rm := b.Command("rm", "Lift a block now.")
	rm.Arg("prefix", "The blocked prefix.").Required().HintAction(blockedPrefixes).StringVar(&f.prefix)
	app.Command("pause", "Pause the responder: it acknowledges block alerts and changes nothing in the firewall.")
	app.Command("resume", "Resume a paused responder.")
}

// withCLI adds the operator commands to the binary's own.
func (m *Main) withCLI(cmds map[string]func(context.Context, *daemon.Runtime, *responderconfig.Config) error) map[string]func(context.Context, *daemon.Runtime, *responderconfig.Config) error {
	cmds["blocks list"] = m.cliList
	cmds["blocks add"] = m.cliAdd
	cmds["blocks rm"] = m.cliRemove
	cmds["pause"] = m.cliPause(true)
	cmds["resume"] = m.cliPause(false)
	return cmds
}

// apiError is the API's answer to a request it refused.
type apiError struct {
	code int
	msg  string
}

func (e *apiError) Error() string {
	if e.code == http.StatusUnauthorized {
		return fmt.Sprintf("%s (401): pass the API token with --api.token-file", e.msg)
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
	if method != http.MethodGet {
		tok, err := os.ReadFile(m.cli.tokenFile)
		switch {
		case err == nil:
			req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(tok)))
		case !errors.Is(err, os.ErrNotExist):
			return fmt.Errorf("read the API token: %w", err)
		}
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
// asks before it sets the flags, so the address is the environment's or
// the default.
func blockedPrefixes() []string {
	c := &Main{cli: cliFlags{url: os.Getenv(envAPIURL)}}
	if c.cli.url == "" {
		c.cli.url = defaultAPIURL
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
