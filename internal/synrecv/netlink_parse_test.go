package synrecv

import (
	"encoding/binary"
	"net/netip"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/mdlayher/netlink"
)

var addrCmp = cmp.Comparer(func(a, b netip.Addr) bool { return a == b })

func TestParseMessages(t *testing.T) {
	msgs := []netlink.Message{
		diagMessage(t, StateListen, "0.0.0.0", 25, "0.0.0.0", 0),
		diagMessage(t, StateSynRecv, "198.51.100.1", 25, "203.0.113.33", 40000),
		diagMessage(t, StateSynRecv, "2001:db8::1", 587, "2001:db8:1::5", 40001),
		diagMessage(t, StateSynRecv, "::ffff:198.51.100.1", 25, "::ffff:203.0.113.63", 40002),
		doneMessage(),
		diagMessage(t, StateSynRecv, "198.51.100.1", 25, "192.0.2.1", 1), // after DONE: not read
	}
	var got []Socket
	done, err := ParseMessages(msgs, collect(&got))
	if err != nil || !done {
		t.Fatalf("ParseMessages = %v, %v; want done, nil", done, err)
	}
	want := []Socket{
		{State: StateListen, LocalPort: 25, Local: netip.MustParseAddr("0.0.0.0")},
		{State: StateSynRecv, LocalPort: 25, Local: netip.MustParseAddr("198.51.100.1"), Remote: netip.MustParseAddr("203.0.113.33")},
		{State: StateSynRecv, LocalPort: 587, Local: netip.MustParseAddr("2001:db8::1"), Remote: netip.MustParseAddr("2001:db8:1::5")},
		{State: StateSynRecv, LocalPort: 25, Local: netip.MustParseAddr("::ffff:198.51.100.1"), Remote: netip.MustParseAddr("::ffff:203.0.113.63")},
	}
	if diff := cmp.Diff(want, got, addrCmp); diff != "" {
		t.Fatalf("unexpected sockets (-want +got):\n%s", diff)
	}
}

func TestParseMessagesErrors(t *testing.T) {
	good := diagMessage(t, StateSynRecv, "198.51.100.1", 25, "203.0.113.33", 40000)
	truncated := good
	truncated.Data = good.Data[:40]
	unknownFamily := diagMessage(t, StateSynRecv, "198.51.100.1", 25, "203.0.113.33", 40000)
	unknownFamily.Data = append([]byte(nil), unknownFamily.Data...)
	unknownFamily.Data[0] = 7
	errMsg := netlink.Message{Header: netlink.Header{Type: netlink.Error}, Data: make([]byte, 20)}
	errno := -int32(syscall.EINVAL)
	binary.NativeEndian.PutUint32(errMsg.Data, uint32(errno))
	tests := []struct {
		name    string
		msgs    []netlink.Message
		wantErr string
	}{
		{name: "truncated inet_diag_msg", msgs: []netlink.Message{good, truncated}, wantErr: "message 1: truncated inet_diag_msg: 40 bytes, want at least 72"},
		{name: "unknown family", msgs: []netlink.Message{unknownFamily}, wantErr: "message 0: inet_diag_msg of unknown address family 7"},
		{name: "netlink error", msgs: []netlink.Message{errMsg}, wantErr: "sock_diag: invalid argument"},
		{name: "short error", msgs: []netlink.Message{{Header: netlink.Header{Type: netlink.Error}, Data: []byte{1}}}, wantErr: "netlink error message of 1 bytes, want at least 4"},
		{name: "unexpected type", msgs: []netlink.Message{{Header: netlink.Header{Type: 99}}}, wantErr: "message 0: unexpected netlink message type 99"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			done, err := ParseMessages(tt.msgs, func(Socket) {})
			if err == nil || err.Error() != tt.wantErr || done {
				t.Fatalf("ParseMessages = %v, %v; want error %q", done, err, tt.wantErr)
			}
		})
	}
	// No DONE yet: not done, no error (the next datagram follows).
	if done, err := ParseMessages([]netlink.Message{good}, func(Socket) {}); done || err != nil {
		t.Fatalf("partial dump: %v, %v", done, err)
	}
}

func TestSplitMessages(t *testing.T) {
	msgs := []netlink.Message{
		diagMessage(t, StateSynRecv, "198.51.100.1", 25, "203.0.113.33", 40000),
		diagMessage(t, StateSynRecv, "2001:db8::1", 25, "2001:db8:1::5", 40000),
		doneMessage(),
	}
	b := marshalDatagram(t, msgs)
	got, err := splitMessages(b, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[2].Header.Type != netlink.Done || len(got[1].Data) != inetDiagMsgLen {
		t.Fatalf("split into %d messages: %+v", len(got), got)
	}
	for _, cut := range []int{len(b) - 1, 16 + 40, 10} {
		if _, err := splitMessages(b[:cut], nil); err == nil {
			t.Errorf("datagram cut at %d bytes accepted", cut)
		} else if !strings.Contains(err.Error(), "netlink") {
			t.Errorf("unclear error %v", err)
		}
	}
	// A reused slice makes splitting allocation-free.
	buf := make([]netlink.Message, 0, 8)
	if n := testing.AllocsPerRun(100, func() { buf, _ = splitMessages(b, buf) }); n != 0 {
		t.Errorf("splitMessages allocates %v times per datagram", n)
	}
}

func TestMarshalRequest(t *testing.T) {
	b := MarshalRequest(afInet6, 1<<StateSynRecv)
	if len(b) != 56 || b[0] != afInet6 || b[1] != syscall.IPPROTO_TCP || binary.NativeEndian.Uint32(b[4:]) != 8 {
		t.Fatalf("unexpected request % x", b)
	}
}
