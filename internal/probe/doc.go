// Package probe checks that the services a host offers still answer: ICMP
// echo, TCP connect (optionally TLS), SMTP, POP3, IMAP and FTP dialogues, and
// HTTP(S) requests.
//
// A Config names modules (how to probe) and targets (what to probe, with which
// module, how often). A Scheduler probes every target in the background on its
// own jittered interval, with bounded concurrency and a hard per-probe
// timeout, and keeps the last result of each; its Collector turns those
// results into metrics at scrape time, so a scrape never waits on a slow or
// dead service. Manager ties them together for cmd/exporter: it applies a
// config (and re-applies it on reload), is the collector, and serves
// /probe?module=&target= for operators who drive targets from Prometheus
// relabeling, as blackbox_exporter does.
//
// Every prober is one entry of the protocol table in protocols.go: its name,
// its target kind (host, host:port or URL), its STARTTLS step and its
// dialogue builder. The config checks, the target check and the probe all
// read that table, so a new protocol is one entry there (and a module in
// examples/exporter.yml). SMTP, POP3, IMAP and FTP are not hand-written
// clients: each is a list of expect/send/starttls steps (see Step) run by
// one dialogue engine, and a tcp module may carry its own list for any other
// line-based protocol.
package probe
