package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/promslog"
	promslogflag "github.com/prometheus/common/promslog/flag"
	"github.com/prometheus/common/version"
	"github.com/prometheus/exporter-toolkit/web"
	"github.com/prometheus/exporter-toolkit/web/kingpinflag"

	"github.com/synguard/synguard/internal/collector"
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
		configFile      string
		configCheck     bool
		procPath        string
		synRecvSource   string
		metricsPath     string
		disableExporter bool
		web             *web.FlagConfig
		log             *promslog.Config
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
	app := kingpin.New("synguard-exporter",
		"Publishes SYN_RECV sockets per source prefix and TcpExt SYN-flood counters as Prometheus metrics.")
	app.Writer(m.Stdout).UsageWriter(m.Stdout).ErrorWriter(m.Stderr)
	app.Terminate(func(code int) { panic(errExit(code)) })
	app.HelpFlag.Short('h')
	app.Version(version.Print(programName))
	f := &m.flags
	app.Flag("config.file", "Exporter configuration file (YAML); without it, the defaults of examples/exporter.yml.").
		Default("").StringVar(&f.configFile)
	app.Flag("config.check", "Validate --config.file and exit: 0 when good, 1 with file:line: reason when not.").
		BoolVar(&f.configCheck)
	app.Flag("path.procfs", "procfs mount point; /proc/net/* there shows the exporter's network namespace.").
		Default("/proc").StringVar(&f.procPath)
	app.Flag("collector.syn-recv.source", "Where SYN_RECV sockets are read: netlink (sock_diag, kernel-filtered) or procfs (/proc/net/tcp{,6}).").
		Default("netlink").EnumVar(&f.synRecvSource, "netlink", "procfs")
	app.Flag("web.telemetry-path", "Path under which to expose metrics.").Default("/metrics").StringVar(&f.metricsPath)
	app.Flag("web.disable-exporter-metrics", "Exclude the exporter's own go_* and process_* metrics.").
		BoolVar(&f.disableExporter)
	f.web = kingpinflag.AddFlags(app, defaultAddr)
	f.log = &promslog.Config{}
	promslogflag.AddFlags(app, f.log)
	_, err := app.Parse(args)
	return err
}

// errExit carries an exit code out of parseFlags' --help and --version,
// which kingpin handles by calling its terminate function.
type errExit int

func (e errExit) Error() string { return fmt.Sprintf("exit %d", int(e)) }

// Main runs the exporter until ctx is done and returns the exit code.
func (m *Main) Main(ctx context.Context, args []string) (code int) {
	// kingpin's --help and --version call the terminate function; turn that
	// into a return instead of an exit.
	defer func() {
		if r := recover(); r != nil {
			e, ok := r.(errExit)
			if !ok {
				panic(r)
			}
			code = int(e)
		}
	}()
	if err := m.parseFlags(args); err != nil {
		fmt.Fprintf(m.Stderr, "synguard-exporter: %v\n", err)
		return 2
	}
	f := &m.flags
	f.log.Writer = m.Stderr
	m.logger = promslog.New(f.log)

	cfg, err := exporterconfig.Load(f.configFile)
	if err != nil {
		if f.configCheck {
			fmt.Fprintf(m.Stderr, "config check failed: %v\n", err)
			return 1
		}
		m.logger.Error("refusing to start: bad configuration", "err", err)
		return 1
	}
	if f.configCheck {
		name := f.configFile
		if name == "" {
			name = "(no --config.file: defaults)"
		}
		fmt.Fprintf(m.Stdout, "%s: config OK\n", name)
		return 0
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
		"syn_recv_source", f.synRecvSource, "procfs", f.procPath, "config", f.configFile)

	reg := prometheus.NewRegistry()
	reg.MustRegister(versioncollector.NewCollector(programName))
	if !f.disableExporter {
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}

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

	mux := http.NewServeMux()
	mux.Handle(f.metricsPath, promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog:      slog.NewLogLogger(m.logger.Handler(), slog.LevelError),
		ErrorHandling: promhttp.ContinueOnError,
	}))
	mux.Handle("/-/reload", reloader)
	mux.Handle("/probe", m.probes)
	mux.HandleFunc("/-/healthy", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "Healthy") })
	if f.metricsPath != "/" {
		landing, err := web.NewLandingPage(web.LandingConfig{
			Name:        "synguard exporter",
			Description: "SYN_RECV sockets per source prefix, TcpExt SYN-flood counters",
			Version:     version.Info(),
			Links: []web.LandingLinks{
				{Address: f.metricsPath, Text: "Metrics"},
				{Address: "/-/healthy", Text: "Health"},
			},
		})
		if err != nil {
			return fmt.Errorf("landing page: %w", err)
		}
		mux.Handle("/", landing)
	}

	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() {
		if m.Ready != nil {
			close(m.Ready)
		}
		if m.Listener != nil {
			errc <- web.Serve(m.Listener, srv, f.web, m.logger)
			return
		}
		errc <- web.ListenAndServe(srv, f.web, m.logger)
	}()
	select {
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return err
	case <-ctx.Done():
		sctx, c := context.WithTimeout(context.Background(), 5*time.Second)
		defer c()
		_ = srv.Shutdown(sctx)
		m.logger.Info("stopped")
		return nil
	}
}

// reload re-reads --config.file and applies it only when it is valid.
func (m *Main) reload() error {
	cfg, err := exporterconfig.Load(m.flags.configFile)
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
