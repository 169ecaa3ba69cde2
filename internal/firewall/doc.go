// Package firewall is the seam between the responder and whatever drops
// traffic on the host: one Backend interface, the Entry, Result and Event
// types every backend speaks, a shipped in-memory backend (Memory) for tests
// and dry runs, and WithCut, which cuts a newly blocked range's established
// connections around any backend.
//
// A new backend is a package of its own (internal/firewalld is one) that
// implements Backend, owns its config section, and passes the contract suite
// in internal/firewall/firewalltest: its setups join TestContract in
// contract_test.go, beside Memory's and firewalld's.
package firewall
