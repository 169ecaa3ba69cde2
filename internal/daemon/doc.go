// Package daemon is the shape both synguard binaries share, in the style of
// Prometheus's own exporters: a kingpin application whose --help and
// --version return instead of exiting (so tests can run a whole program
// in-process), the flags every binary has, its registry, landing page and
// exporter-toolkit web serving with a graceful stop.
//
// Run is that start-up written once: a binary gives it a Spec (its names,
// its own flags, how it loads its configuration and how it builds itself
// from it) and gets flags, logger, --config.check, registry, reloader,
// mux, landing page and serving. The smaller pieces (NewApp, AddFlags,
// ConfigChecked, NewMux, Serve, ...) are what Run is made of.
package daemon
