package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/prometheus/common/version"

	"github.com/synguard/synguard/internal/collector"
	"github.com/synguard/synguard/internal/daemon"
	"github.com/synguard/synguard/internal/exporterconfig"
	"github.com/synguard/synguard/internal/origin"
	"github.com/synguard/synguard/internal/probe"
	"github.com/synguard/synguard/internal/reload"
	"github.com/synguard/synguard/internal/synrecv"
	"github.com/synguard/synguard/internal/tcpext"
)

const (
	programName = "synguard_exporter"
	defaultAddr = ":9817"
)

// Main is the whole exporter: flags, configuration, collectors and the web
// server. Tests build one with NewMain, set Listener to serve on a port of
// their choosing, and call Main.
type Main struct {
	Stdout, Stderr io.Writer
	// Listener, when set, is served instead of --web.listen-address.
	Listener net.Listener
	// Ready, when set, is closed once the server is about to serve.
	Ready chan struct{}

	flags struct {
		*daemon.Flags
		procPath      string
		synRecvSource string
	}
	logger *slog.Logger

	mu     sync.Mutex
	config *exporterconfig.Config

	synRecv *synrecv.Collector
	probes  *probe.Manager
	// origin is the configured AS and country databases.
	origin *origin.Source
}

// NewMain returns a Main writing to stdout and stderr.
func NewMain(stdout, stderr io.Writer) *Main {
	return &Main{Stdout: stdout, Stderr: stderr}
}

// parseFlags parses args into m.flags with a kingpin application of its own
// (no package-global flags), so tests can run Main repeatedly.
func (m *Main) parseFlags(args []string) error {
	app := daemon.NewApp("synguard-exporter",
		"Publishes SYN_RECV sockets per source prefix and TcpExt SYN-flood counters as Prometheus metrics.",
		programName, m.Stdout, m.Stderr)
	f := &m.flags
	f.Flags = daemon.AddFlags(app, "exporter", defaultAddr)
	app.Flag("path.procfs", "procfs mount point; /proc/net/* there shows the exporter's network namespace.").
		Default("/proc").StringVar(&f.procPath)
	app.Flag("collector.syn-recv.source", "Where SYN_RECV sockets are read: netlink (sock_diag, kernel-filtered) or procfs (/proc/net/tcp{,6}).").
		Default("netlink").EnumVar(&f.synRecvSource, "netlink", "procfs")
	_, err := app.Parse(args)
	return err
}

// Main runs the exporter until ctx is done and returns the exit code.
func (m *Main) Main(ctx context.Context, args []string) (code int) {
	defer daemon.CatchExit(&code)
	if err := m.parseFlags(args); err != nil {
		fmt.Fprintf(m.Stderr, "synguard-exporter: %v\n", err)
		return 2
	}
	f := &m.flags
	m.logger = f.Logger(m.Stderr)
	cfg, err := exporterconfig.Load(f.ConfigFile)
	if code := f.ConfigChecked(err, m.Stdout, m.Stderr, m.logger); code >= 0 {
		return code
	}
	if err := m.run(ctx, cfg); err != nil {
		m.logger.Error("exporter stopped", "err", err)
		return 1
	}
	return 0
}

// run builds the collectors and serves until ctx is done.
func (m *Main) run(ctx context.Context, cfg *exporterconfig.Config) error {
	f := &m.flags
	m.logger.Info("starting synguard-exporter", "version", version.Info(), "build_context", version.BuildContext(),
		"syn_recv_source", f.synRecvSource, "procfs", f.procPath, "config", f.ConfigFile)

	reg := f.NewRegistry(programName)

	// Collectors: each runs at scrape time under its own name in the
	// collector label of synguard_scrape_collector_{duration_seconds,success}.
	set := collector.NewSet(m.logger)
	var src synrecv.Source
	switch f.synRecvSource {
	case "procfs":
		src = synrecv.NewProcSource(f.procPath)
	default:
		src = synrecv.NewNetlinkSource()
	}
	m.synRecv = synrecv.NewCollector(src, cfg.SynRecv.Options())
	defer m.synRecv.Close()
	set.Add("syn_recv", m.synRecv)
	tcp, err := tcpext.New(f.procPath)
	if err != nil {
		return err
	}
	set.Add("tcpext", tcp)
	// Probes run in the background; the collector reads their last results.
	m.probes = probe.NewManager(m.logger, nil)
	if err := m.probes.Apply(ctx, cfg.Probes); err != nil {
		return fmt.Errorf("start probes: %w", err)
	}
	defer m.probes.Stop()
	set.Add("probe", m.probes)
	m.origin = origin.NewSource(m.logger)
	if err := m.origin.Apply(cfg.Origin); err != nil {
		return fmt.Errorf("open origin databases: %w", err)
	}
	m.synRecv.SetOrigin(m.origin)
	reg.MustRegister(set)

	m.apply(cfg)
	reloader := reload.New(m.logger, programName, m.reload)
	reloader.MarkLoaded()
	reg.MustRegister(reloader)
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	reloader.WatchSignals(rctx)
	go m.origin.Watch(rctx, originPollInterval)

	mux := f.NewMux(reg, reloader, m.logger)
	mux.Handle("/probe", m.probes)
	if err := f.HandleLanding(mux, "synguard exporter", "SYN_RECV sockets per source prefix, TcpExt SYN-flood counters, service probes"); err != nil {
		return err
	}
	return f.Serve(ctx, mux, m.Listener, m.Ready, m.logger)
}

// reload re-reads --config.file and applies it only when it is valid.
func (m *Main) reload() error {
	cfg, err := exporterconfig.Load(m.flags.ConfigFile)
	if err != nil {
		return err
	}
	// Open changed origin databases before anything else is applied, so
	// a broken database refuses the whole reload and keeps the old state.
	if err := m.origin.Apply(cfg.Origin); err != nil {
		return fmt.Errorf("open origin databases: %w", err)
	}
	// Restarts the probe scheduler; refused (old one kept) when icmp cannot run.
	if err := m.probes.Apply(context.Background(), cfg.Probes); err != nil {
		return err
	}
	m.apply(cfg)
	return nil
}

// originPollInterval is how often the origin database files are checked
// for a new version; they change weekly at most.
const originPollInterval = 30 * time.Second

// apply hands a validated configuration to every collector that has a
// section in it. A new configurable collector is wired in here.
func (m *Main) apply(cfg *exporterconfig.Config) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.config = cfg
	m.synRecv.SetOptions(cfg.SynRecv.Options())
}
