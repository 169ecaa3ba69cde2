// Package e2e holds synguard's end-to-end tests: the whole loop (flood,
// exporter, Prometheus, Alertmanager, responder, firewalld; TestLoop) and
// the fleet scenario (three hosts, two clustered Alertmanagers; TestFleet),
// between network namespaces that internal/lab builds over test/lab/loop.sh
// and test/lab/fleet.sh. The shell sets the labs up; every assertion is
// here, in Go. They need root, and skip saying so without it.
package e2e
