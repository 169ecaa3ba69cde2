package synrecv

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/mdlayher/netlink"
)

// inetDiagMsg mirrors struct inet_diag_msg for building kernel answers.
type inetDiagMsg struct {
	Family, State, Timer, Retrans uint8
	SPort, DPort                  [2]byte // network byte order
	Src, Dst                      [16]byte
	If                            uint32
	Cookie                        [2]uint32
	Expires, RQueue, WQueue, UID  uint32
	Inode                         uint32
}

// diagMessage builds the sock_diag answer for one socket.
func diagMessage(t testing.TB, state uint8, local string, lport uint16, remote string, rport uint16) netlink.Message {
	t.Helper()
	la, ra := netip.MustParseAddr(local), netip.MustParseAddr(remote)
	m := inetDiagMsg{State: state}
	binary.BigEndian.PutUint16(m.SPort[:], lport)
	binary.BigEndian.PutUint16(m.DPort[:], rport)
	if la.Is4() {
		m.Family = afInet
		a4, r4 := la.As4(), ra.As4()
		copy(m.Src[:], a4[:])
		copy(m.Dst[:], r4[:])
	} else {
		m.Family = afInet6
		m.Src, m.Dst = la.As16(), ra.As16()
	}
	var b bytes.Buffer
	if err := binary.Write(&b, binary.NativeEndian, m); err != nil {
		t.Fatal(err)
	}
	return netlink.Message{Header: netlink.Header{Type: sockDiagByFamily, Flags: netlink.Multi}, Data: b.Bytes()}
}

func doneMessage() netlink.Message {
	return netlink.Message{Header: netlink.Header{Type: netlink.Done, Flags: netlink.Multi}, Data: make([]byte, 4)}
}

// marshalDatagram packs messages as the kernel sends them in one datagram.
func marshalDatagram(t testing.TB, msgs []netlink.Message) []byte {
	t.Helper()
	var out []byte
	for _, m := range msgs {
		m.Header.Length = uint32(16 + len(m.Data))
		b, err := m.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b...)
	}
	return out
}

// collect returns every socket a visit gets.
func collect(dst *[]Socket) func(Socket) {
	return func(s Socket) { *dst = append(*dst, s) }
}

type netlinkMessage = netlink.Message
