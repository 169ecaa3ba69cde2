// Package synrecv counts a network namespace's TCP sockets in SYN_RECV by
// source prefix, the signal behind the runbook's "netstat -tan | grep
// SYN_RECV".
//
// Two sources read the sockets: NetlinkSource asks the kernel over sock_diag
// for SYN_RECV and LISTEN sockets only (the kernel filters, so established
// connections never cross into user space), and ProcSource streams
// /proc/net/tcp and /proc/net/tcp6. Both hand each socket to a visit
// function without allocating per socket. The Aggregator folds sockets into
// per-prefix counts whose memory grows with the number of distinct sources,
// never with the number of sockets, and Collector publishes them as const
// metrics at scrape time.
package synrecv
