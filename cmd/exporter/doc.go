// Command synguard-exporter publishes the SYN_RECV sockets of its network
// namespace per source prefix, per listening port, and the kernel's TcpExt
// SYN-flood counters as Prometheus metrics, on :9817 by default.
//
// main.go only wires signals to Main (exporter.go), which parses flags,
// loads the configuration, registers the collectors and serves. Tests run
// the whole program in-process on a loopback port through Main.
//
// The golden test (e2e_test.go) runs it on the fixture procfs in
// testdata/proc and compares /metrics with testdata/e2e-output.txt (and the
// 1 s job's /metrics?collect[]=syn_recv with testdata/e2e-syn-recv.txt);
// after a deliberate change to the output, rewrite them with
//
//	go test ./cmd/exporter -run TestEndToEnd -update
//
// and review the diff. filter_test.go scrapes a running exporter with
// collect[] and exclude[], and as each exporter job of the shipped
// Prometheus configs does. The integration test (integration_test.go)
// floods a victim network namespace for real and needs root.
package main
