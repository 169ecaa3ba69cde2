// Package conntrack cuts the tracked connections of blocked prefixes.
//
// firewalld accepts every packet of an established connection before any
// zone sees it (`ct state established,related accept` heads its input
// chain), so putting a source in the drop zone stops new connections only.
// Deleting the connections' conntrack entries makes their next packet look
// new to the kernel, and the zone then drops it.
//
// During a SYN flood the table holds the flood's half-open entries by the
// thousand; the cut asks the kernel for the assured ones only, so their
// number does not slow it (BenchmarkFlood, test/bench/firewalld.sh).
package conntrack
