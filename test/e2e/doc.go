// Package e2e holds the end-to-end test of synguard's whole loop (flood,
// exporter, Prometheus, Alertmanager, responder, firewalld) between network
// namespaces built by test/lab/loop.sh. It needs root, and skips saying so
// without it.
package e2e
