package synrecv

import (
	"errors"
	"fmt"
	"syscall"
	"unsafe"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// recvBufSize holds the largest datagram a netlink dump sends: the kernel
// caps a dump's skb at SKB_WITH_OVERHEAD(32768), sized after the reader's
// last recvmsg buffer, so 64 KiB never truncates and lets the kernel use its
// largest batches (about 300 sockets each).
const recvBufSize = 64 << 10

// NetlinkSource reads SYN_RECV and LISTEN sockets over NETLINK_SOCK_DIAG,
// one dump per address family, with the kernel filtering on state. It keeps
// one netlink socket and one receive buffer across calls; the socket belongs
// to the network namespace the process was in when it was first used.
type NetlinkSource struct {
	conn *netlink.Conn
	raw  syscall.RawConn
	buf  []byte
	msgs []netlink.Message

	// State of the raw read callback, kept here so that the callback is
	// built once and a read allocates nothing.
	readFn func(fd uintptr) bool
	n      int
	err    error
}

// NewNetlinkSource returns a NetlinkSource; the netlink socket is opened on
// first use and reopened after an error.
func NewNetlinkSource() *NetlinkSource {
	s := &NetlinkSource{buf: make([]byte, recvBufSize), msgs: make([]netlink.Message, 0, 512)}
	s.readFn = s.read
	return s
}

// Sockets implements Source.
func (s *NetlinkSource) Sockets(visit func(Socket)) error {
	if s.conn == nil {
		if err := s.dial(); err != nil {
			return err
		}
	}
	for _, fam := range [...]struct {
		af   uint8
		name string
	}{{afInet, "IPv4"}, {afInet6, "IPv6"}} {
		if err := s.dump(fam.af, visit); err != nil {
			// A half-read dump leaves datagrams in the socket: start afresh.
			_ = s.Close()
			return fmt.Errorf("dump %s SYN_RECV and LISTEN sockets over sock_diag: %w", fam.name, err)
		}
	}
	return nil
}

func (s *NetlinkSource) dial() error {
	c, err := netlink.Dial(unix.NETLINK_SOCK_DIAG, nil)
	if err != nil {
		return fmt.Errorf("open sock_diag netlink socket: %w", err)
	}
	raw, err := c.SyscallConn()
	if err != nil {
		_ = c.Close()
		return fmt.Errorf("sock_diag raw conn: %w", err)
	}
	s.conn, s.raw = c, raw
	return nil
}

func (s *NetlinkSource) dump(af uint8, visit func(Socket)) error {
	req := netlink.Message{
		Header: netlink.Header{Type: sockDiagByFamily, Flags: netlink.Request | netlink.Dump},
		Data:   MarshalRequest(af, 1<<StateSynRecv|1<<StateListen),
	}
	if _, err := s.conn.Send(req); err != nil {
		return fmt.Errorf("send request: %w", err)
	}
	for {
		// The datagrams are read straight into s.buf and split in place:
		// mdlayher/netlink's Receive would allocate a buffer per datagram.
		if err := s.raw.Read(s.readFn); err != nil {
			return fmt.Errorf("receive: %w", err)
		}
		if s.err != nil {
			return fmt.Errorf("receive: %w", s.err)
		}
		if s.n > len(s.buf) {
			return fmt.Errorf("receive: datagram of %d bytes truncated to %d", s.n, len(s.buf))
		}
		if s.n == 0 {
			return errDumpNotDone
		}
		msgs, err := splitMessages(s.buf[:s.n], s.msgs)
		s.msgs = msgs[:0]
		if err != nil {
			return err
		}
		done, err := ParseMessages(msgs, visit)
		if err != nil {
			return err
		}
		if done {
			return nil
		}
	}
}

// read is the raw read callback: recvfrom with MSG_TRUNC so that a datagram
// larger than the buffer shows as n > len(buf) instead of silently losing
// sockets. It returns false on EAGAIN so that the runtime poller waits.
func (s *NetlinkSource) read(fd uintptr) bool {
	n, _, errno := unix.Syscall6(unix.SYS_RECVFROM, fd,
		uintptr(unsafe.Pointer(&s.buf[0])), uintptr(len(s.buf)), unix.MSG_TRUNC, 0, 0)
	switch {
	case errno == unix.EAGAIN || errno == unix.EINTR:
		return false
	case errno != 0:
		s.n, s.err = 0, errno
	default:
		s.n, s.err = int(n), nil
	}
	return true
}

// Close implements Source.
func (s *NetlinkSource) Close() error {
	if s.conn == nil {
		return nil
	}
	err := s.conn.Close()
	s.conn, s.raw = nil, nil
	if err != nil && !errors.Is(err, unix.EBADF) {
		return err
	}
	return nil
}
