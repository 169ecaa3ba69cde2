// Package tcpext publishes the kernel's TcpExt counters that tell a SYN flood
// from a busy server: SyncookiesSent (the listen queue was full and the
// kernel answered with cookies), ListenOverflows and ListenDrops, read from
// /proc/net/netstat of the exporter's network namespace.
package tcpext
