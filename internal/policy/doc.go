// Package policy decides, without side effects, what the responder may do
// with an alert or an operator's request: which prefix it names, whether that
// prefix may be blocked at all (minimum length, allowlist), whether the alert
// is meant for this host, how long a block lasts for a repeat offender, and
// whether the rate limit and cap allow another block; and (Widen) whether
// many alert blocks inside one range are better blocked as that range.
//
// Every rule runs before any firewall call. The refusal reasons are metric
// label values (synguard_responder_refused_total{reason}).
package policy
