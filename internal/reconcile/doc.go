// Package reconcile drives the firewall backend: it takes the Work the
// ledger (internal/blocks) hands over, makes the backend's calls, and hands
// the backend's per-prefix results back. The desired state (the ledger's
// active blocks) is compared with the firewall's at start, on a timer and
// whenever the backend reports a reload or a restart; blocks are expired
// when due, also those that expired while the responder was down; while the
// backend fails the desired state is kept and retried with backoff.
//
// One goroutine makes every backend call, so calls never overlap and a
// burst of notifications is applied in few calls: what arrives while a call
// runs waits for the next one, and while a burst is still arriving a step
// waits for its end (at most Options.Settle) before it takes the work, since
// a firewalld call costs what the whole set costs.
package reconcile
