// Command synflood sends an exact number of TCP SYNs with spoofed source
// addresses from raw sockets, for synguard's lab: it runs inside an attacker
// network namespace whose SYN-ACKs are dropped (see test/lab/synflood.sh),
// so that every SYN leaves exactly one SYN_RECV socket on the victim.
//
// Usage:
//
//	synflood -dst 192.0.2.1 -port 25 -src 203.0.113.32/27 -count 500 -rate 2000
//	synflood -dst 2001:db8:ffff::1 -port 587 -src 2001:db8:1::/120,2001:db8:2::5 -count 300
//
// Flags:
//
//	-dst ADDR        victim address (IPv4 or IPv6); required
//	-port N          victim TCP port (default 25)
//	-src LIST        comma-separated source prefixes or addresses, all of the
//	                 dst's family; sources are taken round-robin over every
//	                 address of every prefix (a /27 gives 32 sources); required
//	-count N         SYNs to send, at most 100000 (default 100)
//	-rate N          SYNs per second, 0 for as fast as possible (default 0)
//	-sport-base N    first source port (default 10000): SYN i uses source
//	                 address i mod n and port base + i/n, so no two SYNs of a
//	                 run share a 4-tuple; give later runs from the same
//	                 sources a higher base, or the victim sees retransmissions
//	                 instead of new connections
//	-iface NAME      bind the raw socket to this interface (optional)
//
// It prints "sent N" and exits 0 when every SYN was handed to the kernel,
// non-zero otherwise. It needs CAP_NET_RAW. Addresses must be documentation
// ranges or addresses of namespaces you made: it refuses anything else.
package main
