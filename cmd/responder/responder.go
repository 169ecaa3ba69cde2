package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"reflect"
	"sync"
	"time"

	"github.com/godbus/dbus/v5"
	"github.com/prometheus/common/version"
	"github.com/prometheus/exporter-toolkit/web"

	"github.com/synguard/synguard/internal/blockstore"
	"github.com/synguard/synguard/internal/daemon"
	"github.com/synguard/synguard/internal/firewalld"
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

// Main is the whole responder: flags, configuration, engine, firewalld and
// the web server. Tests build one with NewMain, set Listener, and call Main.
type Main struct {
	Stdout, Stderr io.Writer
	// Listener, when set, is served instead of --web.listen-address.
	Listener net.Listener
	// Ready, when set, is closed once the server is about to serve.
	Ready chan struct{}

	flags struct {
		*daemon.Flags
		command     string
		dbusAddress string
	}
	logger *slog.Logger

	mu     sync.Mutex
	config *responderconfig.Config
	// origin is the configured AS and country databases.
	origin  *origin.Source
	engine  *reconcile.Engine
	webhook *webhook.Handler
	api     *operatorapi.API
}

// NewMain returns a Main writing to stdout and stderr.
func NewMain(stdout, stderr io.Writer) *Main {
	return &Main{Stdout: stdout, Stderr: stderr}
}

func (m *Main) parseFlags(args []string) error {
	app := daemon.NewApp("synguard-responder",
		"Blocks the prefixes of Alertmanager's SYN-flood alerts in firewalld, safely, and lifts them when due.",
		programName, m.Stdout, m.Stderr)
	f := &m.flags
	f.Flags = daemon.AddFlags(app, "responder", defaultAddr)
	app.Flag("dbus.address", "D-Bus address of firewalld's bus; empty: the system bus, or DBUS_SYSTEM_BUS_ADDRESS when set.").
		Default("").StringVar(&f.dbusAddress)
	app.Command("serve", "Serve the webhook, the operator API and metrics (the default).").Default()
	app.Command("purge", "Remove every block the responder owns from firewalld, runtime and permanent (uninstall, emergency), "+
		"and mark them lifted in the state file. Stop the running responder first.")
	cmd, err := app.Parse(args)
	f.command = cmd
	return err
}

// Main runs the responder until ctx is done and returns the exit code.
func (m *Main) Main(ctx context.Context, args []string) (code int) {
	defer daemon.CatchExit(&code)
	if err := m.parseFlags(args); err != nil {
		fmt.Fprintf(m.Stderr, "synguard-responder: %v\n", err)
		return 2
	}
	f := &m.flags
	m.logger = f.Logger(m.Stderr)
	cfg, err := responderconfig.Load(f.ConfigFile)
	if code := f.ConfigChecked(err, m.Stdout, m.Stderr, m.logger); code >= 0 {
		return code
	}
	if f.command == "purge" {
		if err := m.purge(ctx, cfg); err != nil {
			m.logger.Error("purge failed", "err", err)
			return 1
		}
		return 0
	}
	if err := m.run(ctx, cfg); err != nil {
		m.logger.Error("responder stopped", "err", err)
		return 1
	}
	return 0
}

func firewalldConfig(c *responderconfig.Config) firewalld.Config {
	f := c.Firewalld
	return firewalld.Config{
		Mode: firewalld.Mode(f.Mode), Zone: f.Zone, Permanent: f.Permanent,
		IPSet4: f.IPSetIPv4, IPSet6: f.IPSetIPv6, IPSetMaxElem: f.IPSetMaxElements, AllowReload: f.AllowReload,
		KeepConnections: f.KeepConnections, ConntrackNetns: f.ConntrackNetns,
	}
}

func (m *Main) connect(cfg *responderconfig.Config) (*dbus.Conn, *firewalld.Client, error) {
	conn, err := firewalld.Connect(m.flags.dbusAddress)
	if err != nil {
		return nil, nil, err
	}
	client, err := firewalld.New(conn, firewalldConfig(cfg), m.logger)
	if err != nil {
		conn.Close()
		return nil, nil, err
	}
	return conn, client, nil
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

func (m *Main) run(ctx context.Context, cfg *responderconfig.Config) error {
	f := &m.flags
	m.logger.Info("starting synguard-responder", "version", version.Info(), "build_context", version.BuildContext(),
		"config", f.ConfigFile, "state_file", cfg.StateFile, "mode", cfg.Firewalld.Mode, "zone", cfg.Firewalld.Zone,
		"dry_run", cfg.DryRun, "host", cfg.Host)
	if cfg.Host == "" {
		m.logger.Info("no host configured: host-scoped alerts apply whatever their host label says")
	}
	store, err := blockstore.Open(cfg.StateFile)
	if err != nil {
		return err
	}
	defer store.Close()
	conn, client, err := m.connect(cfg)
	if err != nil {
		return err
	}
	defer conn.Close()

	reg := f.NewRegistry(programName)
	opts := reconcile.Options{
		Store: store, Firewall: client, Policy: cfg.PolicyConfig(), Registerer: reg, Logger: m.logger,
		Interval: time.Duration(cfg.Firewalld.ReconcileInterval), Mode: cfg.Firewalld.Mode, Zone: cfg.Firewalld.Zone,
	}
	if cfg.Policy.AllowOwnAddresses {
		opts.OwnAddrs = ownAddrs
	}
	m.origin = origin.NewSource(m.logger)
	if err := m.origin.Apply(cfg.Origin); err != nil {
		return fmt.Errorf("open origin databases: %w", err)
	}
	opts.Origin = m.origin
	engine, err := reconcile.New(opts)
	if err != nil {
		return err
	}
	m.engine = engine
	m.webhook = webhook.New(webhookOptions(cfg), engine, reg, m.logger)
	m.api = operatorapi.New(engine, apiOptions(cfg), m.logger)
	m.config = cfg

	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); engine.Run(rctx) }()
	go func() { defer wg.Done(); m.watch(rctx, client, engine) }()
	defer wg.Wait()
	defer cancel()

	reloader := reload.New(m.logger, programName, m.reload)
	reloader.MarkLoaded()
	reg.MustRegister(reloader)
	reloader.WatchSignals(rctx)
	go m.origin.Watch(rctx, originPollInterval)

	mux := f.NewMux(reg, reloader, m.logger)
	mux.Handle("/webhook", m.webhook)
	m.api.Register(mux)
	statuspage.New(operatorapi.StatusSource(engine), 2*time.Second).Register(mux, "/status")
	if err := f.HandleLanding(mux, "synguard responder",
		"Alertmanager webhook to firewalld: blocks SYN-flooding prefixes, safely, and lifts them when due",
		web.LandingLinks{Address: "/status", Text: "Status"},
		web.LandingLinks{Address: "/api/v1/blocks", Text: "Blocks (JSON)"}); err != nil {
		return err
	}
	return f.Serve(ctx, mux, m.Listener, m.Ready, m.logger)
}

// watch forwards firewalld's signals to the engine, resubscribing if the
// subscription ends.
func (m *Main) watch(ctx context.Context, client *firewalld.Client, engine *reconcile.Engine) {
	for ctx.Err() == nil {
		events, err := client.Watch(ctx)
		if err != nil {
			m.logger.Error("watch firewalld signals; retrying", "err", err)
		} else {
			for ev := range events {
				switch ev.Kind {
				case firewalld.EventReloaded:
					engine.Notify(reconcile.EventReloaded)
				case firewalld.EventStarted:
					engine.Notify(reconcile.EventStarted)
				case firewalld.EventStopped:
					engine.Notify(reconcile.EventStopped)
				}
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
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

// reload re-reads --config.file and applies it only when it is valid and
// changes nothing that needs a restart.
func (m *Main) reload() error {
	cfg, err := responderconfig.Load(m.flags.ConfigFile)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if cfg.StateFile != m.config.StateFile || !reflect.DeepEqual(cfg.Firewalld, m.config.Firewalld) {
		return errors.New("state_file and the firewalld section take effect only after a restart; nothing reloaded")
	}
	// Origin databases first: a broken one refuses the whole reload.
	if err := m.origin.Apply(cfg.Origin); err != nil {
		return fmt.Errorf("open origin databases: %w", err)
	}
	if err := m.engine.SetPolicy(cfg.PolicyConfig()); err != nil {
		return err
	}
	m.webhook.SetOptions(webhookOptions(cfg))
	m.api.SetOptions(apiOptions(cfg))
	m.config = cfg
	return nil
}

// purge removes every owned block from firewalld and marks it lifted.
func (m *Main) purge(ctx context.Context, cfg *responderconfig.Config) error {
	store, err := blockstore.Open(cfg.StateFile)
	if errors.Is(err, blockstore.ErrLocked) {
		return fmt.Errorf("%w: stop the running synguard-responder first (it would restore the blocks)", err)
	}
	if err != nil {
		return err
	}
	defer store.Close()
	conn, client, err := m.connect(cfg)
	if err != nil {
		return err
	}
	defer conn.Close()
	var owned []netip.Prefix
	for _, b := range store.Blocks() {
		if b.Owned() {
			owned = append(owned, b.Prefix)
		}
	}
	if err := client.Purge(ctx, owned); err != nil {
		return fmt.Errorf("purge %d blocks: %w", len(owned), err)
	}
	now := time.Now()
	for _, b := range store.Blocks() {
		if b.Owned() {
			b.Active, b.Installed = false, false
			b.LastLifted, b.LiftReason = now, blockstore.LiftPurged
			store.Put(b)
			m.logger.Info("audit", "action", "purge", "result", "ok", "prefix", b.Prefix.String())
		}
	}
	if err := store.Save(); err != nil {
		return fmt.Errorf("purged from firewalld, but the state file was not updated: %w", err)
	}
	fmt.Fprintf(m.Stdout, "purged %d blocks from firewalld (runtime and permanent, zone %s, mode %s); state file %s marks them lifted\n",
		len(owned), cfg.Firewalld.Zone, cfg.Firewalld.Mode, cfg.StateFile)
	return nil
}
