// Command synguard-exporter publishes a host's SYN_RECV sockets per source
// prefix and its TcpExt SYN-flood counters as Prometheus metrics, on :9817
// by default. See the README for its flags and metrics.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	m := NewMain(os.Stdout, os.Stderr)
	os.Exit(m.Main(ctx, os.Args[1:]))
}
