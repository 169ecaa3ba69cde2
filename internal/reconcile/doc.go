// Package reconcile is the responder's engine: it turns alerts and an
// operator's requests into owned blocks (policy first, state saved before any
// firewall call), and keeps firewalld equal to them. Desired state (the
// unexpired blocks of the block store) is compared with firewalld's at start,
// on a timer and whenever firewalld reloads or restarts; a block is lifted
// when it expires, also when it expired while the responder was down; while
// firewalld is away the desired state is kept and retried with backoff.
//
// One goroutine makes every firewall call, so calls never overlap and a
// burst of notifications is applied in few calls: what arrives while a call
// runs waits for the next one.
package reconcile
