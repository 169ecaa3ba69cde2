// Package blocks is the responder's core: it decides and stores. Alerts and
// an operator's requests pass policy.Admit; what is admitted becomes a
// record in the block store, saved before any firewall call (or undone
// whole when the save fails), with one counter and one audit line per
// action. Expiry lifts what is due. What the firewall must do is handed to
// the driver (internal/reconcile) as Work, and the driver hands back the
// backend's per-prefix Results, which Confirm folds into the records: a
// record is only ever changed against its current state, so a lift that
// lands while the firewall is busy is never lost.
//
// Notifications that arrive together are a group commit (combine.go):
// while one batch is decided and saved, the next ones queue, and the next
// batch decides them in order as one change with one save, each answered
// only once that save is durable; a failed save refuses every notification
// of its batch and undoes them all.
//
// A new admit rule goes in internal/policy (Admit), not here; a new backend
// in a package of its own behind internal/firewall.
package blocks
