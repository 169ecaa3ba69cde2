// Package prefix holds synguard's canonical form of a network prefix and the
// prefix sets (allowlists) that both binaries match addresses against.
//
// Canonical means: an IPv4-mapped IPv6 address (::ffff:a.b.c.d) is treated as
// the IPv4 address it carries, the zone is dropped and the host bits are
// cleared. firewalld stores a source exactly as given (198.51.100.33/27 and
// 198.51.100.32/27 are two different sources to it), and the exporter's
// prefix label must equal the responder's block, so every prefix crosses a
// package boundary in this form only.
package prefix
