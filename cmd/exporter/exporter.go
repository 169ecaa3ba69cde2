package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/synguard/synguard/internal/collector"
	"github.com/synguard/synguard/internal/daemon"
	"github.com/synguard/synguard/internal/exporterconfig"
	"github.com/synguard/synguard/internal/origin"
	"github.com/synguard/synguard/internal/probe"
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
	// IO is where it writes and listens: Stdout, Stderr, and for tests
	// Listener (served instead of --web.listen-address) and Ready (closed
	// once the server is about to serve).
	daemon.IO

	flags struct {
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
	return &Main{IO: daemon.IO{Stdout: stdout, Stderr: stderr}}
}

// Main runs the exporter until ctx is done and returns the exit code. The
// start-up both binaries share is daemon.Run's; what is the exporter's own
// is its flags, its config and start.
func (m *Main) Main(ctx context.Context, args []string) int {
	return daemon.Run(ctx, daemon.Spec[*exporterconfig.Config]{
		Name:        "synguard-exporter",
		ProgramName: programName,
		Help:        "Publishes SYN_RECV sockets per source prefix and TcpExt SYN-flood counters as Prometheus metrics.",
		What:        "exporter",
		DefaultAddr: defaultAddr,
		Title:       "synguard exporter",
		Description: "SYN_RECV sockets per source prefix, TcpExt SYN-flood counters, service probes",
		Flags:       m.addFlags,
		Load:        exporterconfig.Load,
		LogAttrs: func(*exporterconfig.Config) []any {
			return []any{"syn_recv_source", m.flags.synRecvSource, "procfs", m.flags.procPath}
		},
		Start: m.start,
	}, args, m.IO)
}

// addFlags adds the exporter's own flags beside daemon's shared ones.
func (m *Main) addFlags(app *kingpin.Application) {
	f := &m.flags
	app.Flag("path.procfs", "procfs mount point; /proc/net/* there shows the exporter's network namespace.").
		Default("/proc").StringVar(&f.procPath)
	app.Flag("collector.syn-recv.source", "Where SYN_RECV sockets are read: netlink (sock_diag, kernel-filtered) or procfs (/proc/net/tcp{,6}).").
		Default("netlink").EnumVar(&f.synRecvSource, "netlink", "procfs")
}

// start builds the collectors for cfg; daemon.Run serves them.
func (m *Main) start(ctx context.Context, r *daemon.Runtime, cfg *exporterconfig.Config) (*daemon.Service[*exporterconfig.Config], error) {
	f := &m.flags
	m.logger = r.Logger

	// Collectors: each runs at scrape time under its own name in the
	// collector label of synguard_scrape_collector_{duration_seconds,success},
	// the name a scrape selects it by (?collect[]=syn_recv; README.md lists
	// them). A new collector is added here and to README's table.
	set := collector.NewSet(m.logger)
	var src synrecv.Source
	switch f.synRecvSource {
	case "procfs":
		src = synrecv.NewProcSource(f.procPath)
	default:
		src = synrecv.NewNetlinkSource()
	}
	m.synRecv = synrecv.NewCollector(src, cfg.SynRecv.Options())
	r.OnStop(func() { _ = m.synRecv.Close() })
	set.Add("syn_recv", m.synRecv)
	tcp, err := tcpext.New(f.procPath)
	if err != nil {
		return nil, err
	}
	set.Add("tcpext", tcp)
	// Probes run in the background; the collector reads their last results.
	m.probes = probe.NewManager(m.logger, nil)
	if err := m.probes.Apply(ctx, cfg.Probes); err != nil {
		return nil, fmt.Errorf("start probes: %w", err)
	}
	r.OnStop(m.probes.Stop)
	set.Add("probe", m.probes)
	m.origin = origin.NewSource(m.logger)
	if err := m.origin.Apply(cfg.Origin); err != nil {
		return nil, fmt.Errorf("open origin databases: %w", err)
	}
	m.synRecv.SetOrigin(m.origin)
	m.apply(cfg)
	go m.origin.Watch(ctx, originPollInterval)

	// The metrics path serves the collectors a scrape selects
	// (?collect[]=syn_recv for the 1 s job, ?exclude[]=syn_recv for the
	// normal one; none: all). r.Registry holds the exporter's own metrics,
	// the collector named "exporter".
	metrics := collector.NewHandler(set, r.Registry, func(g prometheus.Gatherer) http.Handler {
		return daemon.MetricsHandler(g, m.logger)
	})
	return &daemon.Service[*exporterconfig.Config]{
		Apply:   m.reload,
		Mount:   func(mux *http.ServeMux) { mux.Handle("/probe", m.probes) },
		Metrics: metrics,
	}, nil
}

// reload applies a configuration daemon.Run re-read and found valid, or
// refuses it and keeps the running one.
func (m *Main) reload(cfg *exporterconfig.Config) error {
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
