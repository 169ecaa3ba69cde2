package synrecv

import (
	"net/netip"
)

// TCP states as the kernel numbers them (include/net/tcp_states.h).
const (
	StateSynRecv = 3
	StateListen  = 10
)

// Socket is one TCP socket as a Source reports it: a SYN_RECV request socket
// or a listening socket. Remote is the zero Addr for a listening socket.
type Socket struct {
	State     uint8
	LocalPort uint16
	Local     netip.Addr
	Remote    netip.Addr
}

// Source reads the TCP sockets of the current network namespace. Sockets
// calls visit once for every SYN_RECV and every LISTEN socket, IPv4 and IPv6;
// it may report other states too, which callers ignore. A Source is used by
// one goroutine at a time; visit must not retain the Socket's address.
type Source interface {
	Sockets(visit func(Socket)) error
	// Close releases what the source holds open (a netlink socket).
	Close() error
}
