// Package hostlab holds the real-host test of the release packages: the
// .debs built by `make package`, installed with apt into Debian 11, 12 and
// 13 root filesystems booted with systemd-nspawn (systemd as PID 1, its own
// bus, polkitd, firewalld.service, Prometheus and Alertmanager) in network
// namespaces the test creates, and a real SYN flood from an attacker
// namespace blocked end to end. hostlab.sh does the work on one suite;
// hostlab_test.go builds the packages (current tree and the first packaged
// commit, for the upgrade) and runs it per suite. It needs root and skips,
// saying so, without it.
package hostlab
