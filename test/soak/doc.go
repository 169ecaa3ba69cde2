// Package soak is synguard's randomized fault campaign (issue 12): for
// every backend setup with a real firewall behind it (firewalld in ipset
// and in zone mode, nftables), it runs the synguard-responder binary
// against a real firewalld in a network namespace (internal/lab), applies
// random operations from a seeded source (webhooks good and hostile, API
// blocks and unblocks with expiries of seconds, an operator's own drop
// sources, firewalld reloads, restarts and crashes, responder crashes, a
// full state directory, forged D-Bus signals sent straight to the
// responder by an unprivileged uid, test/lab/cmd/forgesignals, and by a
// second root connection) and, after every few of them,
// waits for the responder to settle and checks the invariant: the
// firewall's entries are the state's active blocks, the operator's own
// sources are all still there, and nothing lifted is still dropped (read
// from the firewall itself and by real connections from the attacker
// namespace).
//
// `go test ./test/soak` runs it for SOAK_DURATION (2 minutes in all by
// default; root, skipped without it); `make soak` runs it for 20 minutes.
// A failure prints the seed and the operation log; SOAK_SEED=N replays the
// same operations (their timing, and so what firewalld and the responder
// make of them, is the machine's). The helpers here (prefix pool, address
// coverage, the log) are plain Go; the campaign is in the test files.
package soak
