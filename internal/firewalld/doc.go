// Package firewalld is the firewalld backend of package firewall: it blocks
// network prefixes in firewalld over D-Bus, the way the runbook's
// `firewall-cmd --zone=drop --add-source=...` does, without running
// firewall-cmd. Client implements firewall.Backend; Config is the
// firewall.firewalld section of the responder's configuration, with its
// defaults and validation.
//
// Two modes share one Client. In zone mode each prefix is a source of the
// configured zone (drop by default), in the runtime and, when configured, in
// the permanent config: what an operator recognises, but each source costs
// firewalld 15-160 ms and six nftables rules, growing with the zone. A
// source in the zone that synguard did not put there is Preexisting, and
// never removed. In ipset mode one hash:net ipset per family is bound to the
// zone as a single permanent source, and prefixes are entries of those
// sets, set in bulk with setEntries: thousands cost one call. The sets are
// synguard's, so every entry in them is its own.
//
// The Client only touches what its caller says it owns, canonicalises every
// prefix before a call (firewalld keeps host bits as given), answers per
// prefix (one refused prefix, such as a source bound to another zone, never
// fails the others), treats firewalld's idempotency errors as success and
// classifies the others by their code (see Error and IsCode).
//
// Restarts stay inside the package: Watch reports firewalld's reloads,
// stops and starts, and before every change the Client asks the bus who
// owns firewalld's name, so that a new firewalld is noticed even when its
// signal comes late or never. A new firewalld is prepared (in zone mode, a
// reload clears the stale kernel rules a crashed one leaves) before a
// firewall.Restarted event goes out.
//
// The Client does not cut established connections: firewall.WithCut does,
// around any backend.
//
// Package firewalldtest holds an in-memory fake firewalld on a private
// dbus-daemon for tests that must not need root or a real firewalld.
package firewalld
