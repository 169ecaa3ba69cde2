// Package firewalld blocks network prefixes in firewalld over D-Bus, the
// way the runbook's `firewall-cmd --zone=drop --add-source=...` does, without
// running firewall-cmd.
//
// Two modes share one Client. In zone mode each prefix is a source of the
// configured zone (drop by default), in the runtime and, when configured, in
// the permanent config: what an operator recognises, but each source costs
// firewalld 15-160 ms and six nftables rules, growing with the zone. In ipset
// mode one hash:net ipset per family is bound to the zone as a single
// permanent source, and prefixes are entries of those sets, set in bulk with
// setEntries: thousands cost one call.
//
// The Client only touches what its caller says it owns, canonicalises every
// prefix before a call (firewalld keeps host bits as given), validates a
// whole batch before the first call, treats firewalld's idempotency errors
// as success and classifies the others by their code (see Error and IsCode).
// Watch reports firewalld reloads and restarts, which drop runtime state;
// AfterRestart clears the stale kernel rules a crashed firewalld leaves
// (zone mode only: ipset mode leaves none).
//
// firewalld lets packets of established connections through before any
// zone sees them, so a block alone stops new connections only; after a
// block is applied the Client also deletes the conntrack entries of the
// prefix's answered connections (package conntrack), unless
// Config.KeepConnections is set.
//
// Package firewalldtest holds an in-memory fake firewalld on a private
// dbus-daemon for tests that must not need root or a real firewalld.
package firewalld
