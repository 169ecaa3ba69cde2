// Command synguard-responder receives Alertmanager's webhook and blocks the
// alerts' source prefixes in firewalld over D-Bus, safely: allowlist,
// minimum prefix length, cap, rate limit, expiry with escalation, and
// reconciliation after firewalld reloads and restarts. It serves on :9818 by
// default. `synguard-responder purge` removes every block it owns.
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
