// Command listener listens on TCP ports, IPv4 and IPv6, with a large
// backlog, and never accepts, so that the handshakes a SYN flood starts stay
// in SYN_RECV on it. It exits by itself after -seconds, so a lab that loses
// track of it cannot leave it running.
//
// Usage:
//
//	listener -ports 25,587 -backlog 4194304 -seconds 3600
//
// Flags:
//
//	-ports LIST   comma-separated TCP ports (default 25,587)
//	-backlog N    listen backlog; the kernel caps it at net.core.somaxconn,
//	              and it bounds the SYN_RECV sockets per listener (default 4194304)
//	-seconds N    exit after N seconds (default 600)
//	-v4 ADDR, -v6 ADDR   addresses to bind (default 0.0.0.0 and ::; "" skips a family)
//
// It prints one "listening ADDR:PORT" line per socket once all are
// listening.
package main
