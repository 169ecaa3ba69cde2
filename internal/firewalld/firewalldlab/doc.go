// Package firewalldlab runs a real firewalld for tests: test/lab/firewalld.sh
// brings it up in a victim network namespace on a private D-Bus, and the lab
// adds an attacker namespace joined to it by a veth pair (no route anywhere
// else) and an echo server in the victim, so that a test can check that a
// block really drops TCP from a range and nothing else.
//
// Tests that use it need root and firewalld's Debian packages; Start skips
// the test, saying why, without them.
package firewalldlab
