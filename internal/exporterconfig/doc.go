// Package exporterconfig is the configuration file of synguard-exporter:
// how SYN_RECV sockets are aggregated (prefix lengths, top N, allowlist,
// ports). Every mistake is reported as "file:line: reason" through
// configfile, both at start (and --config.check) and on reload.
package exporterconfig
