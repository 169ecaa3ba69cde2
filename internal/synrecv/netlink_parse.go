package synrecv

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"syscall"

	"github.com/mdlayher/netlink"
)

// sock_diag wire format (include/uapi/linux/inet_diag.h, sock_diag.h).
const (
	sockDiagByFamily = 20 // SOCK_DIAG_BY_FAMILY

	// inet_diag_req_v2: family, protocol, ext, pad (4), states (4), inet_diag_sockid (48).
	inetDiagReqV2Len = 56
	// inet_diag_msg: family, state, timer, retrans (4), inet_diag_sockid (48),
	// expires, rqueue, wqueue, uid, inode (20).
	inetDiagMsgLen = 72

	afInet  = 2  // AF_INET
	afInet6 = 10 // AF_INET6
)

// errDumpNotDone is returned when a dump's datagrams ran out before NLMSG_DONE.
var errDumpNotDone = errors.New("netlink dump ended without NLMSG_DONE")

// MarshalRequest returns the inet_diag_req_v2 asking for the TCP sockets of
// one address family in the states of the bit mask states (1<<StateSynRecv
// and 1<<StateListen); the kernel does the filtering.
func MarshalRequest(family uint8, states uint32) []byte {
	b := make([]byte, inetDiagReqV2Len)
	b[0] = family
	b[1] = syscall.IPPROTO_TCP
	binary.NativeEndian.PutUint32(b[4:], states)
	return b
}

// ParseMessages decodes the sock_diag answers in msgs and calls visit for
// each socket. It reports done when it met the dump's NLMSG_DONE. A message
// too short for its type, an unknown address family or a netlink error
// message is an error; the sockets visited before it stay visited, so the
// caller discards the whole dump. It allocates nothing.
func ParseMessages(msgs []netlink.Message, visit func(Socket)) (done bool, err error) {
	for i := range msgs {
		m := &msgs[i]
		switch m.Header.Type {
		case netlink.Done:
			return true, nil
		case netlink.Error:
			if len(m.Data) < 4 {
				return false, fmt.Errorf("netlink error message of %d bytes, want at least 4", len(m.Data))
			}
			errno := int32(binary.NativeEndian.Uint32(m.Data))
			if errno == 0 { // an acknowledgement, not an error
				continue
			}
			return false, fmt.Errorf("sock_diag: %w", syscall.Errno(-errno))
		case netlink.Noop, netlink.Overrun:
			continue
		case sockDiagByFamily:
			s, err := parseInetDiagMsg(m.Data)
			if err != nil {
				return false, fmt.Errorf("message %d: %w", i, err)
			}
			visit(s)
		default:
			return false, fmt.Errorf("message %d: unexpected netlink message type %d", i, m.Header.Type)
		}
	}
	return false, nil
}

func parseInetDiagMsg(b []byte) (Socket, error) {
	if len(b) < inetDiagMsgLen {
		return Socket{}, fmt.Errorf("truncated inet_diag_msg: %d bytes, want at least %d", len(b), inetDiagMsgLen)
	}
	s := Socket{
		State:     b[1],
		LocalPort: binary.BigEndian.Uint16(b[4:6]),
	}
	switch b[0] {
	case afInet:
		s.Local = netip.AddrFrom4([4]byte(b[8:12]))
		s.Remote = netip.AddrFrom4([4]byte(b[24:28]))
	case afInet6:
		s.Local = netip.AddrFrom16([16]byte(b[8:24]))
		s.Remote = netip.AddrFrom16([16]byte(b[24:40]))
	default:
		return Socket{}, fmt.Errorf("inet_diag_msg of unknown address family %d", b[0])
	}
	if s.State == StateListen {
		s.Remote = netip.Addr{}
	}
	return s, nil
}

// splitMessages cuts one received datagram into netlink messages whose Data
// point into b (no copy), appending to msgs[:0] so that a reused slice makes
// it allocation-free.
func splitMessages(b []byte, msgs []netlink.Message) ([]netlink.Message, error) {
	const hdrLen = 16
	msgs = msgs[:0]
	for len(b) > 0 {
		if len(b) < hdrLen {
			return msgs, fmt.Errorf("truncated netlink header: %d bytes left", len(b))
		}
		l := int(binary.NativeEndian.Uint32(b[0:4]))
		if l < hdrLen || l > len(b) {
			return msgs, fmt.Errorf("netlink message length %d out of range (%d bytes left)", l, len(b))
		}
		msgs = append(msgs, netlink.Message{
			Header: netlink.Header{
				Length:   uint32(l),
				Type:     netlink.HeaderType(binary.NativeEndian.Uint16(b[4:6])),
				Flags:    netlink.HeaderFlags(binary.NativeEndian.Uint16(b[6:8])),
				Sequence: binary.NativeEndian.Uint32(b[8:12]),
				PID:      binary.NativeEndian.Uint32(b[12:16]),
			},
			Data: b[hdrLen:l],
		})
		al := (l + 3) &^ 3 // NLMSG_ALIGN
		if al > len(b) {
			break
		}
		b = b[al:]
	}
	return msgs, nil
}
