package daemon

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/version"
	"github.com/prometheus/exporter-toolkit/web"

	"github.com/synguard/synguard/internal/reload"
)

// Spec is one synguard binary as Run starts it: its names, its own flags,
// how it loads its configuration (of type C) and how it builds itself from
// it. Everything else, the start-up both binaries share, is Run's.
type Spec[C any] struct {
	// Name is the command ("synguard-exporter"): kingpin's application name
	// and the prefix of flag errors.
	Name string
	// ProgramName names the build info and reload metrics
	// ("synguard_exporter": synguard_exporter_build_info).
	ProgramName string
	// Help is what --help says the binary does.
	Help string
	// What is the binary's noun in flag help ("exporter"); DefaultAddr is
	// the default --web.listen-address.
	What, DefaultAddr string
	// Title and Description head the landing page; Links are added to its
	// links to the metrics and the health check.
	Title, Description string
	Links              []web.LandingLinks

	// Flags, when set, adds the binary's own flags and commands to app
	// before the arguments are parsed.
	Flags func(app *kingpin.Application)
	// Load reads --config.file ("" gives the defaults). Its error is what
	// --config.check reports, and what refuses a start or a reload.
	Load func(path string) (C, error)
	// LogAttrs, when set, adds the binary's own attributes to the
	// "starting" log line.
	LogAttrs func(cfg C) []any
	// Commands run instead of serving when the parsed kingpin command (see
	// Flags) is one of their names, with the loaded configuration; an
	// error is logged and exits 1.
	Commands map[string]func(ctx context.Context, r *Runtime, cfg C) error
	// Start builds the binary from its configuration: collectors and
	// background work on r, handlers in the Service it returns. ctx ends
	// when serving ends, before r's OnStop functions run.
	Start func(ctx context.Context, r *Runtime, cfg C) (*Service[C], error)
}

// Service is what a binary's Start built, for Run to serve and reload.
type Service[C any] struct {
	// Apply takes a configuration that Load read on a reload (SIGHUP, POST
	// /-/reload). It returns an error, and keeps the running configuration,
	// when it cannot take this one.
	Apply func(cfg C) error
	// Mount, when set, adds the binary's handlers to the mux beside
	// --web.telemetry-path, /-/reload, /-/healthy and the landing page.
	Mount func(mux *http.ServeMux)
	// Metrics, when set, serves --web.telemetry-path instead of the whole
	// of Runtime.Registry (the exporter's, which serves only the collectors
	// a scrape asks for). Build it with MetricsHandler.
	Metrics http.Handler
	// GuardReload, when set, wraps the POST /-/reload handler: the
	// binary's own authentication of it (the responder's API token).
	GuardReload func(http.Handler) http.Handler
}

// Runtime is what Run hands a binary's Start and Commands: the parsed
// shared flags, the logger they asked for, the registry /metrics serves,
// and a place for clean-ups.
type Runtime struct {
	Flags    *Flags
	Logger   *slog.Logger
	Registry *prometheus.Registry
	// Stdout is where a command writes what it reports.
	Stdout io.Writer

	stops    []func()
	notifier *Notifier
}

// HoldReady delays the READY=1 that Run sends systemd (Type=notify) once
// the server listens, until the returned function is called: a binary
// whose readiness needs more than a listening socket (the responder: its
// first firewall backend setup tried) holds it from Start. Outside serving
// (commands) it returns a function that does nothing.
func (r *Runtime) HoldReady() (release func()) {
	if r.notifier == nil {
		return func() {}
	}
	return r.notifier.Hold()
}

// OnStop registers f to run when the binary stops, after serving has
// ended; the last registered runs first, as deferred calls do.
func (r *Runtime) OnStop(f func()) { r.stops = append(r.stops, f) }

func (r *Runtime) stop() {
	for i := len(r.stops) - 1; i >= 0; i-- {
		r.stops[i]()
	}
	r.stops = nil
}

// IO is where a running binary writes and listens. main passes os.Stdout
// and os.Stderr; tests set Listener (served instead of
// --web.listen-address), Ready (closed just before serving) and Notify
// (what is sent to systemd instead of sd_notify; nil sends to
// $NOTIFY_SOCKET, nothing without it).
type IO struct {
	Stdout, Stderr io.Writer
	Listener       net.Listener
	Ready          chan struct{}
	Notify         func(state string) (sent bool, err error)
}

// Run is a whole binary's life, the part both share: parse the flags
// (--help and --version return 0), make the logger, load the configuration
// (--config.check reports it and returns), run a command or start the
// binary, then serve metrics, reload, health, the landing page and the
// binary's handlers until ctx is done. It returns the exit code: 0, 1 for
// a bad configuration or a failure, 2 for bad flags.
func Run[C any](ctx context.Context, spec Spec[C], args []string, out IO) (code int) {
	defer CatchExit(&code)
	app := NewApp(spec.Name, spec.Help, spec.ProgramName, out.Stdout, out.Stderr)
	flags := AddFlags(app, spec.What, spec.DefaultAddr)
	if spec.Flags != nil {
		spec.Flags(app)
	}
	command, err := app.Parse(args)
	if err != nil {
		fmt.Fprintf(out.Stderr, "%s: %v\n", spec.Name, err)
		return 2
	}
	r := &Runtime{Flags: flags, Logger: flags.Logger(out.Stderr), Stdout: out.Stdout}
	cfg, err := spec.Load(flags.ConfigFile)
	if code := flags.ConfigChecked(err, out.Stdout, out.Stderr, r.Logger); code >= 0 {
		return code
	}
	if run, ok := spec.Commands[command]; ok {
		if err := run(ctx, r, cfg); err != nil {
			r.Logger.Error(command+" failed", "err", err)
			return 1
		}
		return 0
	}
	if err := serve(ctx, spec, r, cfg, out); err != nil {
		r.Logger.Error(spec.What+" stopped", "err", err)
		return 1
	}
	return 0
}

func serve[C any](ctx context.Context, spec Spec[C], r *Runtime, cfg C, out IO) error {
	f := r.Flags
	attrs := []any{"version", version.Info(), "build_context", version.BuildContext(), "config", f.ConfigFile}
	if spec.LogAttrs != nil {
		attrs = append(attrs, spec.LogAttrs(cfg)...)
	}
	r.Logger.Info("starting "+spec.Name, attrs...)
	r.Registry = f.NewRegistry(spec.ProgramName)
	r.notifier = newNotifier(r.Logger, out.Notify)

	// The binary's background work runs on rctx: it ends, and the
	// clean-ups run, when serving ends or Start fails.
	rctx, cancel := context.WithCancel(ctx)
	defer r.stop()
	defer cancel()
	svc, err := spec.Start(rctx, r, cfg)
	if err != nil {
		return err
	}

	reloader := reload.New(r.Logger, spec.ProgramName, func() error {
		next, err := spec.Load(f.ConfigFile)
		if err != nil {
			return err
		}
		return svc.Apply(next)
	})
	reloader.MarkLoaded()
	r.Registry.MustRegister(reloader)
	reloader.WatchSignals(rctx)

	metrics := svc.Metrics
	if metrics == nil {
		metrics = MetricsHandler(r.Registry, r.Logger)
	}
	var reloadHandler http.Handler = reloader
	if svc.GuardReload != nil {
		reloadHandler = svc.GuardReload(reloader)
	}
	mux := f.newMux(metrics, reloadHandler)
	if svc.Mount != nil {
		svc.Mount(mux)
	}
	if err := f.HandleLanding(mux, spec.Title, spec.Description, spec.Links...); err != nil {
		return err
	}
	return f.Serve(ctx, mux, out.Listener, out.Ready, r.notifier.listening, r.Logger)
}
