package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/promslog"
	promslogflag "github.com/prometheus/common/promslog/flag"
	"github.com/prometheus/common/version"
	"github.com/prometheus/exporter-toolkit/web"
	"github.com/prometheus/exporter-toolkit/web/kingpinflag"
)

// Flags are the flags every synguard binary has.
type Flags struct {
	ConfigFile             string
	ConfigCheck            bool
	MetricsPath            string
	DisableExporterMetrics bool
	// EnableLifecycle turns on POST /-/reload, as Prometheus's own flag
	// does: off, a web page in an operator's browser or any local process
	// cannot make the binary re-read its file; SIGHUP always can.
	EnableLifecycle bool
	Web             *web.FlagConfig
	Log             *promslog.Config
}

// exitCode carries kingpin's exit code out of --help and --version.
type exitCode int

// NewApp returns a kingpin application of its own (no package-global
// flags) writing to stdout and stderr, whose terminate function panics with
// the exit code for CatchExit to turn into a return.
func NewApp(name, help, programName string, stdout, stderr io.Writer) *kingpin.Application {
	app := kingpin.New(name, help)
	app.Writer(stdout).UsageWriter(stdout).ErrorWriter(stderr)
	app.Terminate(func(code int) { panic(exitCode(code)) })
	app.HelpFlag.Short('h')
	app.Version(version.Print(programName))
	return app
}

// CatchExit, deferred by a Main, returns kingpin's exit code from --help or
// --version in *code; any other panic goes on.
func CatchExit(code *int) {
	if r := recover(); r != nil {
		e, ok := r.(exitCode)
		if !ok {
			panic(r)
		}
		*code = int(e)
	}
}

// AddFlags registers the shared flags; what is the binary's noun in help
// texts ("exporter", "responder").
func AddFlags(app *kingpin.Application, what, defaultAddr string) *Flags {
	f := &Flags{Log: &promslog.Config{}}
	app.Flag("config.file", fmt.Sprintf("The %s's configuration file (YAML); without it, the defaults of examples/%s.yml.", what, what)).
		Default("").StringVar(&f.ConfigFile)
	app.Flag("config.check", "Validate --config.file and exit: 0 when good, 1 with file:line: reason when not.").
		BoolVar(&f.ConfigCheck)
	app.Flag("web.telemetry-path", "Path under which to expose metrics.").Default("/metrics").StringVar(&f.MetricsPath)
	app.Flag("web.disable-exporter-metrics", fmt.Sprintf("Exclude the %s's own go_* and process_* metrics.", what)).
		BoolVar(&f.DisableExporterMetrics)
	app.Flag("web.enable-lifecycle", "Serve POST /-/reload (off: reload with SIGHUP only), as Prometheus's flag of the same name.").
		BoolVar(&f.EnableLifecycle)
	f.Web = kingpinflag.AddFlags(app, defaultAddr)
	promslogflag.AddFlags(app, f.Log)
	return f
}

// Logger returns the promslog logger the flags ask for, writing to w.
func (f *Flags) Logger(w io.Writer) *slog.Logger {
	f.Log.Writer = w
	return promslog.New(f.Log)
}

// ConfigChecked reports the outcome of --config.check (load is the error
// of loading the file) and returns the exit code, or -1 when the program
// should go on: loaded, and not only checking. A bad config without
// --config.check is logged and refuses to start.
func (f *Flags) ConfigChecked(load error, stdout, stderr io.Writer, logger *slog.Logger) int {
	if load != nil {
		if f.ConfigCheck {
			fmt.Fprintf(stderr, "config check failed: %v\n", load)
			return 1
		}
		logger.Error("refusing to start: bad configuration", "err", load)
		return 1
	}
	if f.ConfigCheck {
		name := f.ConfigFile
		if name == "" {
			name = "(no --config.file: defaults)"
		}
		fmt.Fprintf(stdout, "%s: config OK\n", name)
		return 0
	}
	return -1
}

// NewRegistry returns a registry holding the build info collector of
// programName and, unless the flags disable them, the Go and process
// collectors.
func (f *Flags) NewRegistry(programName string) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(buildInfo(programName))
	if !f.DisableExporterMetrics {
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	return reg
}

// HandleLanding mounts the landing page at "/" with links to the metrics,
// the health check and links, unless the metrics themselves are at "/".
func (f *Flags) HandleLanding(mux *http.ServeMux, name, description string, links ...web.LandingLinks) error {
	if f.MetricsPath == "/" {
		return nil
	}
	links = append(links, web.LandingLinks{Address: f.MetricsPath, Text: "Metrics"}, web.LandingLinks{Address: "/-/healthy", Text: "Health"})
	landing, err := web.NewLandingPage(web.LandingConfig{Name: name, Description: description, Version: version.Info(), Links: links})
	if err != nil {
		return fmt.Errorf("landing page: %w", err)
	}
	mux.Handle("/", landing)
	return nil
}

// Serve serves h with the flags' web configuration (TLS, basic auth) on ln,
// or on --web.listen-address when ln is nil, until ctx is done, then stops
// gracefully within 5 s. ready, when not nil, is closed just before serving;
// listening, when not nil, is called once every address is bound (a bind
// error is returned before it), for systemd's READY.
func (f *Flags) Serve(ctx context.Context, h http.Handler, ln net.Listener, ready chan struct{}, listening func(), logger *slog.Logger) error {
	srv := &http.Server{
		Handler: h, ReadHeaderTimeout: 10 * time.Second,
		// A client that sends or reads slowly must not hold a connection
		// for ever. Writes may wait on /probe's probe and the API's wait
		// for the firewall (10 s), both far below this; the webhook bounds
		// its own body reads more tightly.
		ReadTimeout: time.Minute, WriteTimeout: 2 * time.Minute, IdleTimeout: 2 * time.Minute,
	}
	limitConns(srv, MaxConnections, logger)
	var lns []net.Listener
	if ln != nil {
		lns = []net.Listener{ln}
	} else if bound, err := f.listen(); err != nil {
		return err
	} else {
		lns = bound
	}
	errc := make(chan error, 1)
	go func() {
		if ready != nil {
			close(ready)
		}
		if lns == nil {
			errc <- web.ListenAndServe(srv, f.Web, logger)
			return
		}
		errc <- web.ServeMultiple(lns, srv, f.Web, logger)
	}()
	if listening != nil {
		listening()
	}
	select {
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return err
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
		logger.Info("stopped")
		return nil
	}
}

// NewMux returns a mux serving reg's metrics at --web.telemetry-path (a
// failing collector is logged and the rest still served), reload at
// /-/reload (with --web.enable-lifecycle) and a health check at /-/healthy.
func (f *Flags) NewMux(reg *prometheus.Registry, reload http.Handler, logger *slog.Logger) *http.ServeMux {
	return f.newMux(MetricsHandler(reg, logger), reload)
}

// MetricsHandler serves g in Prometheus's exposition formats; a failing
// collector is logged and the rest still served.
func MetricsHandler(g prometheus.Gatherer, logger *slog.Logger) http.Handler {
	return promhttp.HandlerFor(g, promhttp.HandlerOpts{
		ErrorLog:      slog.NewLogLogger(logger.Handler(), slog.LevelError),
		ErrorHandling: promhttp.ContinueOnError,
	})
}

func (f *Flags) newMux(metrics, reload http.Handler) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle(f.MetricsPath, metrics)
	if f.EnableLifecycle {
		mux.Handle("/-/reload", reload)
	} else {
		mux.HandleFunc("/-/reload", func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, "reload over HTTP is off: start with --web.enable-lifecycle, or send SIGHUP", http.StatusForbidden)
		})
	}
	mux.HandleFunc("/-/healthy", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "Healthy") })
	return mux
}

// MaxConnections bounds the connections a binary serves at once; beyond
// it a new connection is closed at once (Prometheus, Alertmanager and an
// operator need a handful).
const MaxConnections = 256

// limitConns closes every connection srv accepts while max are open: a
// local process opening connections without end cannot exhaust the
// binary's file descriptors.
// listen binds every --web.listen-address, so that READY is sent only once
// they accept connections. It returns nil listeners, for exporter-toolkit to
// listen itself, with --web.systemd-socket (systemd listens already) or a
// vsock:// address.
func (f *Flags) listen() ([]net.Listener, error) {
	if f.Web.WebSystemdSocket != nil && *f.Web.WebSystemdSocket || f.Web.WebListenAddresses == nil {
		return nil, nil
	}
	var lns []net.Listener
	for _, a := range *f.Web.WebListenAddresses {
		if strings.HasPrefix(a, "vsock://") {
			closeAll(lns)
			return nil, nil
		}
		ln, err := net.Listen("tcp", a)
		if err != nil {
			closeAll(lns)
			return nil, fmt.Errorf("listen on %s: %w", a, err)
		}
		lns = append(lns, ln)
	}
	return lns, nil
}

func closeAll(lns []net.Listener) {
	for _, l := range lns {
		l.Close()
	}
}

func limitConns(srv *http.Server, max int64, logger *slog.Logger) {
	var open atomic.Int64
	var refused atomic.Int64
	srv.ConnState = func(c net.Conn, st http.ConnState) {
		switch st {
		case http.StateNew:
			if open.Add(1) > max {
				if refused.Add(1) == 1 {
					logger.Warn("too many connections: closing new ones until some end", "max", max)
				}
				c.Close()
			}
		case http.StateClosed, http.StateHijacked:
			if open.Add(-1) <= max {
				refused.Store(0)
			}
		}
	}
}

// buildInfo is PROGRAM_build_info: the labels of prometheus/common's
// version collector (version, revision, branch, goversion, goos, goarch,
// tags) and the build date, which that collector leaves out and an
// operator comparing hosts of a fleet wants.
func buildInfo(programName string) prometheus.Collector {
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: programName + "_build_info",
		Help: "A metric with a constant '1' value labeled by version, revision, branch, build date, goversion from which " + programName + " was built, and the goos and goarch for the build.",
		ConstLabels: prometheus.Labels{
			"version": version.Version, "revision": version.GetRevision(), "branch": version.Branch,
			"build_date": version.BuildDate, "goversion": version.GoVersion, "goos": version.GoOS, "goarch": version.GoArch,
			"tags": version.GetTags(),
		},
	}, func() float64 { return 1 })
}
