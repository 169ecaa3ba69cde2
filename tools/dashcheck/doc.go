// Package dashcheck checks synguard's Grafana dashboards and Prometheus rules
// statically, since neither Grafana nor github.com/grafana/dashboard-linter
// can be installed here.
//
// It checks what Grafana's dashboard linter checks (a templated datasource
// used by every panel, units on every panel, rate() with $__rate_interval,
// counters only under rate/irate/increase, job and host matchers, unique
// panel ids, ...), parses every query as PromQL with Prometheus's own parser,
// and checks every synguard_ metric name, its type and the labels matched on
// it against the golden /metrics outputs of the two binaries, so a dashboard
// or rule cannot use a name the binaries do not really emit.
//
// Its tests also run the shipped Alertmanager routes and inhibit rules in a
// real Alertmanager (promtool does not evaluate inhibitions) and read which
// notifications a webhook receiver gets.
//
// It is its own Go module so that Prometheus's parser and its dependencies
// stay out of the binaries' module graph.
package dashcheck
