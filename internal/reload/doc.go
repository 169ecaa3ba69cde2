// Package reload runs a program's configuration reload on SIGHUP and on
// POST /-/reload, one reload at a time, and reports the outcome as metrics.
//
// The reload function does all the work: it reads the new configuration,
// validates it and swaps it in only when it is good, so that a bad file on
// reload keeps the running configuration. Both synguard binaries use it:
//
//	r := reload.New(logger, "synguard_exporter", func() error { return m.loadAndApply() })
//	reg.MustRegister(r)
//	mux.Handle("/-/reload", r)
//	r.WatchSignals(ctx)
//
// POST /-/reload is served only with --web.enable-lifecycle, refuses
// cross-origin browser requests, and is behind whatever the web
// configuration asks of every route (TLS client certificates, basic auth).
// A binary whose reload needs a token of its own (the responder: its API
// token) wraps it with RequireBearer.
package reload
