package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"reflect"
	"sync"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/exporter-toolkit/web"

	"github.com/synguard/synguard/internal/blocks"
	"github.com/synguard/synguard/internal/blockstore"
	"github.com/synguard/synguard/internal/daemon"
	"github.com/synguard/synguard/internal/operatorapi"
	"github.com/synguard/synguard/internal/origin"
	"github.com/synguard/synguard/internal/reconcile"
	"github.com/synguard/synguard/internal/reload"
	"github.com/synguard/synguard/internal/responderconfig"
	"github.com/synguard/synguard/internal/statuspage"
	"github.com/synguard/synguard/internal/webhook"
)

const (
	programName = "synguard_responder"
	defaultAddr = ":9818"
)

// Main is the whole responder: flags, configuration, ledger, driver,
// firewall backend and the web server. Tests build one with NewMain, set
// Listener, and call Main.
type Main struct {
	Stdout, Stderr io.Writer
	// Listener, when set, is served instead of --web.listen-address.
	Listener net.Listener
	// Ready, when set, is closed once the server is about to serve.
	Ready chan struct{}

	flags struct {
		dbusAddress string
	}
	// app is the parsed command line, for the web flags daemon owns that
	// decide which routes need a token (LoadFor).
	app *kingpin.Application
	// command is set by an operator command or purge, which serve nothing:
	// their configuration is loaded without the routes' check.
	command bool
	cli     cliFlags
	logger  *slog.Logger

	mu     sync.Mutex
	config *responderconfig.Config
	// origin is the configured AS and country databases.
	origin  *origin.Source
	driver  *reconcile.Driver
	webhook *webhook.Handler
	api     *operatorapi.API
}

// NewMain returns a Main writing to stdout and stderr.
func NewMain(stdout, stderr io.Writer) *Main {
	return &Main{Stdout: stdout, Stderr: stderr}
}

// Main runs the responder until ctx is done and returns the exit code. The
// start-up both binaries share is daemon.Run's; the responder's own is its
// flags, the purge command and start.
func (m *Main) Main(ctx context.Context, args []string) int {
	return daemon.Run(ctx, daemon.Spec[*responderconfig.Config]{
		Name:        "synguard-responder",
		ProgramName: programName,
		Help:        "Blocks the prefixes of Alertmanager's SYN-flood alerts in the firewall (firewalld or plain nftables), safely, and lifts them when due.",
		What:        "responder",
		DefaultAddr: defaultAddr,
		Title:       "synguard responder",
		Description: "Alertmanager webhook to the firewall: blocks SYN-flooding prefixes, safely, and lifts them when due",
		Links: []web.LandingLinks{
			{Address: "/status", Text: "Status"},
			{Address: "/api/v1/blocks", Text: "Blocks (JSON)"},
		},
		Flags:    m.addFlags,
		Load:     m.load,
		LogAttrs: logAttrs,
		Commands: m.withCLI(map[string]func(context.Context, *daemon.Runtime, *responderconfig.Config) error{"purge": m.purge}),
		Start:    m.start,
	}, args, daemon.IO{Stdout: m.Stdout, Stderr: m.Stderr, Listener: m.Listener, Ready: m.Ready})
}

// addFlags adds the responder's own flags and commands beside daemon's.
func (m *Main) addFlags(app *kingpin.Application) {
	m.app = app
	app.Flag("dbus.address", "D-Bus address of firewalld's bus; empty: the system bus, or DBUS_SYSTEM_BUS_ADDRESS when set.").
		Default("").StringVar(&m.flags.dbusAddress)
	app.Command("serve", "Serve the webhook, the operator API and metrics (the default).").Default()
	app.Command("purge", "Remove every block the responder owns from the firewall, and what the backend made for itself (firewalld's ipsets, nftables' table), for uninstall and emergencies, "+
		"and mark them lifted in the state file. Stop the running responder first.").PreAction(m.servesNothing)
	m.addCLI(app)
}

// servesNothing marks the parsed command as one that serves no route.
func (m *Main) servesNothing(*kingpin.ParseContext) error {
	m.command = true
	return nil
}

// load reads the configuration; to serve (and for --config.check) it also
// refuses a mutating route without authentication that the file does not
// open by name, as the web flags serve them.
func (m *Main) load(path string) (*responderconfig.Config, error) {
	if m.command {
		return responderconfig.Load(path)
	}
	flag := func(name string) string {
		if f := m.app.GetFlag(name); f != nil {
			return f.Model().Value.String()
		}
		return ""
	}
	return responderconfig.LoadFor(path, responderconfig.Serving{
		WebConfigFile: flag("web.config.file"),
		Lifecycle:     flag("web.enable-lifecycle") == "true",
	})
}

// warnOpen logs a warning per mutating route the configuration serves
// without authentication (opened in insecure_open_routes).
func warnOpen(logger *slog.Logger, cfg *responderconfig.Config) {
	for _, r := range cfg.OpenRoutes {
		logger.Warn("route served WITHOUT authentication (insecure_open_routes): anyone who reaches the listen address can use it; cross-origin browser requests and non-JSON bodies are still refused",
			"route", r, "paths", routePaths[r])
	}
}

// routePaths names what each route of insecure_open_routes serves.
var routePaths = map[string]string{
	responderconfig.RouteWebhook: "POST /webhook",
	responderconfig.RouteAPI:     "POST/DELETE /api/v1/blocks, POST/DELETE /api/v1/pause",
	responderconfig.RouteReload:  "POST /-/reload",
}

func logAttrs(cfg *responderconfig.Config) []any {
	return []any{"state_file", cfg.StateFile, "backend", cfg.Firewall.Backend, "dry_run", cfg.DryRun, "host", cfg.Host}
}

// ownAddrs lists the host's addresses, which the policy never blocks.
func ownAddrs() ([]netip.Addr, error) {
	as, err := net.InterfaceAddrs()
	if err != nil {
		return nil, err
	}
	var out []netip.Addr
	for _, a := range as {
		if n, ok := a.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(n.IP); ok {
				out = append(out, ip.Unmap())
			}
		}
	}
	return out, nil
}

// start opens the state and the backend and builds the ledger, the driver
// and the handlers; daemon.Run serves them.
func (m *Main) start(ctx context.Context, r *daemon.Runtime, cfg *responderconfig.Config) (*daemon.Service[*responderconfig.Config], error) {
	m.logger = r.Logger
	warnOpen(m.logger, cfg)
	if cfg.Host == "" {
		m.logger.Info("no host configured: host-scoped alerts apply whatever their host label says")
	}
	store, err := blockstore.Open(cfg.StateFile)
	if err != nil {
		return nil, err
	}
	r.OnStop(func() { store.Close() })
	backend, err := m.openBackend(cfg)
	if err != nil {
		return nil, err
	}
	r.OnStop(backend.close)
	if backend.collector != nil {
		r.Registry.MustRegister(backend.collector)
	}
	m.origin = origin.NewSource(m.logger)
	if err := m.origin.Apply(cfg.Origin); err != nil {
		return nil, fmt.Errorf("open origin databases: %w", err)
	}
	lopts := blocks.Options{
		Store: store, Policy: cfg.PolicyConfig(), Backend: backend.Describe(), Registerer: r.Registry,
		Logger: m.logger, Origin: m.origin,
	}
	if cfg.Policy.AllowOwnAddresses {
		lopts.OwnAddrs = ownAddrs
	}
	ledger, err := blocks.New(lopts)
	if err != nil {
		return nil, err
	}
	m.driver, err = reconcile.New(reconcile.Options{
		Ledger: ledger, Backend: backend, Registerer: r.Registry, Logger: m.logger,
		Interval: time.Duration(cfg.Firewall.ReconcileInterval),
	})
	if err != nil {
		return nil, err
	}
	m.webhook = webhook.New(webhookOptions(cfg), m.driver, r.Registry, m.logger)
	m.api = operatorapi.New(m.driver, apiOptions(cfg), m.logger)
	m.config = cfg

	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); m.driver.Run(ctx) }()
	holdReadyForPrepare(ctx, r, m.driver)
	go func() { defer wg.Done(); m.origin.Watch(ctx, originPollInterval) }()
	// The driver saves what it confirmed as it stops: before the store closes.
	r.OnStop(wg.Wait)

	return &daemon.Service[*responderconfig.Config]{
		Apply: m.reload,
		Mount: func(mux *http.ServeMux) {
			mux.Handle("/webhook", m.webhook)
			m.api.Register(mux)
			statuspage.New(operatorapi.StatusSource(m.driver), 2*time.Second).Register(mux, "/status")
		},
		// Whoever may change blocks may reload: the API's token.
		GuardReload: func(h http.Handler) http.Handler {
			return reload.RequireBearer(func() string {
				m.mu.Lock()
				defer m.mu.Unlock()
				return m.config.APIToken
			}, h)
		},
	}, nil
}

func webhookOptions(c *responderconfig.Config) webhook.Options {
	return webhook.Options{MaxBodyBytes: c.Webhook.MaxBodyBytes, MaxAlerts: c.Webhook.MaxAlerts, BearerToken: c.WebhookToken}
}

func apiOptions(c *responderconfig.Config) operatorapi.Options {
	return operatorapi.Options{Token: c.APIToken, ReadOnly: c.API.ReadOnly}
}

// originPollInterval is how often the origin database files are checked
// for a new version; they change weekly at most.
const originPollInterval = 30 * time.Second

// reload applies a configuration daemon.Run re-read and found valid, when it
// changes nothing that needs a restart.
func (m *Main) reload(cfg *responderconfig.Config) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if cfg.StateFile != m.config.StateFile || !reflect.DeepEqual(cfg.Firewall, m.config.Firewall) {
		return errors.New("state_file and the firewall section take effect only after a restart; nothing reloaded")
	}
	// Origin databases first: a broken one refuses the whole reload.
	if err := m.origin.Apply(cfg.Origin); err != nil {
		return fmt.Errorf("open origin databases: %w", err)
	}
	if err := m.driver.SetPolicy(cfg.PolicyConfig()); err != nil {
		return err
	}
	m.webhook.SetOptions(webhookOptions(cfg))
	m.api.SetOptions(apiOptions(cfg))
	m.config = cfg
	warnOpen(m.logger, cfg)
	return nil
}

// purge removes every owned block from the firewall and marks it lifted.
func (m *Main) purge(ctx context.Context, r *daemon.Runtime, cfg *responderconfig.Config) error {
	m.logger = r.Logger
	store, err := blockstore.Open(cfg.StateFile)
	if errors.Is(err, blockstore.ErrLocked) {
		return fmt.Errorf("%w: stop the running synguard-responder first (it would restore the blocks)", err)
	}
	if err != nil {
		return err
	}
	defer store.Close()
	backend, err := m.openBackend(cfg)
	if err != nil {
		return err
	}
	defer backend.close()
	ledger, err := blocks.New(blocks.Options{
		Store: store, Policy: cfg.PolicyConfig(), Backend: backend.Describe(), Registerer: prometheus.NewRegistry(), Logger: m.logger,
	})
	if err != nil {
		return err
	}
	n, err := ledger.Purge(ctx, backend)
	if err != nil {
		return err
	}
	d := backend.Describe()
	fmt.Fprintf(r.Stdout, "purged %d blocks from %s (%s); state file %s marks them lifted\n",
		n, d, d.Where, cfg.StateFile)
	return nil
}
