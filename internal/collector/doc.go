// Package collector runs named metric collectors at scrape time and reports,
// for each, how long it took and whether it succeeded
// (synguard_scrape_collector_duration_seconds and
// synguard_scrape_collector_success), so that one failing source of metrics
// shows as a 0 beside the others instead of failing the whole scrape.
package collector
