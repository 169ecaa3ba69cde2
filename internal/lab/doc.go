// Package lab is synguard's one test lab, for tests only: Need skips a test
// that lacks root or a tool, saying which; Start runs a real firewalld (via
// test/lab/firewalld.sh) in a victim network namespace on a private D-Bus,
// with an attacker namespace joined to it by a veth pair (no route anywhere
// else) and an echo server in the victim, so that a test can check that a
// block really drops TCP from a range and nothing else. The whole loop and
// the fleet follow here.
//
// Every lab is torn down by the PIDs it started, and checks that the root
// namespace's firewall stayed as it was.
package lab
