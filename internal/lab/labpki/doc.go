// Package labpki writes the fleet lab's throw-away PKI at test time: one CA,
// a server certificate per host (its lab name and address as SANs) and
// client certificates (Prometheus, each Alertmanager, and an intruder the
// CA signed under a name no web config allows), so the lab serves and
// scrapes over TLS with client certificates as deploy/fleet/ tells an
// operator to. Nothing of it is committed: the keys live in the lab's state
// directory and die with it, and the CA's own key is never written at all.
package labpki
