// Package firewalltest is the contract suite of package firewall: Run
// checks that a Backend keeps the promises firewall.Backend's doc makes
// (results per prefix, ownership, overlaps, repair after a reload, events,
// errors while unreachable, expiry), against the firewall underneath it,
// which a Setup's Under acts on out of band. Every backend's setups run it
// from one TestContract (internal/firewall/contract_test.go).
package firewalltest
