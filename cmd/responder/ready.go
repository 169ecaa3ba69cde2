package main

import (
	"context"

	"github.com/synguard/synguard/internal/daemon"
)

// holdReadyForPrepare keeps systemd's READY=1 (Type=notify) back until the
// driver's first step has run: its first call of the backend is Prepare, so
// READY means the firewall setup was tried, and a unit ordered After= the
// responder starts when blocks can land (or the failure is in the log and
// in synguard_responder_backend_up). Flush returns when that step ends,
// whatever its outcome, or when ctx does.
func holdReadyForPrepare(ctx context.Context, r *daemon.Runtime, d interface{ Flush(context.Context) error }) {
	release := r.HoldReady()
	go func() {
		defer release()
		_ = d.Flush(ctx)
	}()
}
