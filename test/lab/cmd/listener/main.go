package main

import (
	"flag"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// listen opens a listening socket without net.Listen, whose backlog is
// Go's reading of somaxconn rather than the one asked for.
func listen(addr netip.Addr, port, backlog int) (int, error) {
	family := unix.AF_INET6
	var sa unix.Sockaddr = &unix.SockaddrInet6{Port: port, Addr: addr.As16()}
	if addr.Is4() {
		family = unix.AF_INET
		sa = &unix.SockaddrInet4{Port: port, Addr: addr.As4()}
	}
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		unix.Close(fd)
		return -1, err
	}
	if family == unix.AF_INET6 {
		// IPv4 gets its own socket: v6only keeps the families apart.
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 1); err != nil {
			unix.Close(fd)
			return -1, err
		}
	}
	if err := unix.Bind(fd, sa); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("bind %s: %w", netip.AddrPortFrom(addr, uint16(port)), err)
	}
	if err := unix.Listen(fd, backlog); err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

func main() {
	ports := flag.String("ports", "25,587", "comma-separated TCP ports")
	backlog := flag.Int("backlog", 4194304, "listen backlog")
	seconds := flag.Int("seconds", 600, "exit after this many seconds")
	v4 := flag.String("v4", "0.0.0.0", "IPv4 address to bind, empty for none")
	v6 := flag.String("v6", "::", "IPv6 address to bind, empty for none")
	flag.Parse()
	var addrs []netip.Addr
	for _, s := range []string{*v4, *v6} {
		if s == "" {
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			fmt.Fprintln(os.Stderr, "listener:", err)
			os.Exit(2)
		}
		addrs = append(addrs, a)
	}
	var lines []string
	for _, ps := range strings.Split(*ports, ",") {
		port, err := strconv.Atoi(strings.TrimSpace(ps))
		if err != nil || port < 1 || port > 65535 {
			fmt.Fprintf(os.Stderr, "listener: bad port %q\n", ps)
			os.Exit(2)
		}
		for _, a := range addrs {
			if _, err := listen(a, port, *backlog); err != nil {
				fmt.Fprintln(os.Stderr, "listener:", err)
				os.Exit(1)
			}
			lines = append(lines, "listening "+netip.AddrPortFrom(a, uint16(port)).String())
		}
	}
	fmt.Println(strings.Join(lines, "\n"))
	time.Sleep(time.Duration(*seconds) * time.Second)
}
