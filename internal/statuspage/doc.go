// Package statuspage is the responder's status page for an operator during
// an attack: the active blocks (prefix, origin where known, since, expiry,
// offences), the recent actions and refusals, and the firewall backend's state.
//
// The page is one self-contained HTML document (no external scripts, styles
// or fonts: a responder usually has no Internet access) that renders a
// snapshot embedded in it and then refreshes itself from a small JSON
// endpoint with fetch(), without reloading. The responder supplies the data
// through the Source interface; Recent is a bounded event log it can feed
// when it keeps no history of its own.
package statuspage
