// Package daemontest is the test scaffolding of synguard's daemons, written
// once for cmd/exporter, cmd/responder and test/: Start runs a binary's Main
// in-process on a loopback listener and waits until it serves; Build and Run
// do the same for the built binary; Buffer is a log sink safe for a daemon's
// goroutines; Golden compares output with a golden file by cmp.Diff and
// rewrites the file under `go test -update`; Eventually polls a condition,
// bounded. For tests only.
package daemontest
