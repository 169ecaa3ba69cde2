// Package collector runs named metric collectors at scrape time and reports,
// for each, how long it took and whether it succeeded
// (synguard_scrape_collector_duration_seconds and
// synguard_scrape_collector_success), so that one failing source of metrics
// shows as a 0 beside the others instead of failing the whole scrape.
//
// Handler serves them by name: a scrape's collect[] or exclude[] query
// parameters (as node_exporter's) select which collectors run, so a 1 s
// scrape job can take the SYN_RECV dump alone while the normal job takes
// the rest; the binary's own metrics are the collector named SelfName.
package collector
