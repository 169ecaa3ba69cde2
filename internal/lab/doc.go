// Package lab is synguard's one test lab, for tests only:
//
//   - Need skips a test that lacks root or a tool, saying which;
//   - Start runs a real firewalld (via test/lab/firewalld.sh) in a victim
//     network namespace on a private D-Bus, with an attacker namespace
//     joined to it by a veth pair (no route anywhere else) and an echo
//     server in the victim, so that a test can check that a block really
//     drops TCP from a range and nothing else;
//   - NewLoop and StartLoop drive the whole loop of test/lab/loop.sh
//     (victims with their own firewalld, services, exporter and responder;
//     an attacker; Prometheus and Alertmanager), StartFleet the fleet of
//     test/lab/fleet.sh (several victims, two clustered Alertmanagers),
//     and read what a test asserts on: blocks, firewalld's drops, SYN_RECV
//     counts by ss and by the exporter, responder metrics, webhooks sent.
//
// The shell sets labs up; assertions belong in the Go tests. Every lab is
// torn down by the PIDs it started; the firewalld lab also checks that the
// root namespace's firewall stayed as it was.
package lab
