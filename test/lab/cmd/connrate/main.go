package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Bounds of one run: the lab's service and the shared machine take this
// easily; anything more is a mistake in the caller.
const (
	maxRate     = 5000
	maxSeconds  = 600
	maxInFlight = 512
)

// documentation are the only ranges connrate connects from or to.
var documentation = []netip.Prefix{
	netip.MustParsePrefix("192.0.2.0/24"),
	netip.MustParsePrefix("198.51.100.0/24"),
	netip.MustParsePrefix("203.0.113.0/24"),
}

func inDocumentation(a netip.Addr) bool {
	for _, p := range documentation {
		if p.Contains(a.Unmap()) {
			return true
		}
	}
	return false
}

type options struct {
	target  netip.AddrPort
	bind    netip.Addr
	rate    int
	seconds int
	timeout time.Duration
}

func parseFlags(args []string) (options, error) {
	fs := flag.NewFlagSet("connrate", flag.ContinueOnError)
	target := fs.String("target", "", "HTTP server address:port")
	bind := fs.String("bind", "", "local address to connect from")
	var o options
	fs.IntVar(&o.rate, "rate", 200, "connections per second")
	fs.IntVar(&o.seconds, "seconds", 10, "how long to run")
	fs.DurationVar(&o.timeout, "timeout", 2*time.Second, "timeout of one connection")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	var err error
	if o.target, err = netip.ParseAddrPort(*target); err != nil {
		return o, fmt.Errorf("-target: %w", err)
	}
	if o.bind, err = netip.ParseAddr(*bind); err != nil {
		return o, fmt.Errorf("-bind: %w", err)
	}
	switch {
	case !inDocumentation(o.target.Addr()) || !inDocumentation(o.bind):
		return o, errors.New("-target and -bind must be in 192.0.2.0/24, 198.51.100.0/24 or 203.0.113.0/24")
	case o.rate < 1 || o.rate > maxRate:
		return o, fmt.Errorf("-rate must be 1..%d", maxRate)
	case o.seconds < 1 || o.seconds > maxSeconds:
		return o, fmt.Errorf("-seconds must be 1..%d", maxSeconds)
	}
	return o, nil
}

// request makes one connection: connect, an HTTP/1.0 request, its status
// line. Closing with SO_LINGER 0 leaves no TIME_WAIT on the client, so one
// address can go on at thousands a second without running out of ports.
func request(d *net.Dialer, o options) error {
	c, err := d.Dial("tcp", o.target.String())
	if err != nil {
		return err
	}
	defer func() {
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetLinger(0)
		}
		c.Close()
	}()
	if err := c.SetDeadline(time.Now().Add(o.timeout)); err != nil {
		return err
	}
	if _, err := fmt.Fprintf(c, "GET / HTTP/1.0\r\nHost: %s\r\n\r\n", o.target.Addr()); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "HTTP/1.") {
		return fmt.Errorf("not an HTTP status line: %q", line)
	}
	return nil
}

func run(o options) (ok, fail int64) {
	d := net.Dialer{Timeout: o.timeout, LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(o.bind, 0))}
	var okN, failN atomic.Int64
	var wg sync.WaitGroup
	slots := make(chan struct{}, maxInFlight)
	tick := time.NewTicker(time.Second / time.Duration(o.rate))
	defer tick.Stop()
	report := time.NewTicker(time.Second)
	defer report.Stop()
	end := time.After(time.Duration(o.seconds) * time.Second)
	var lastOK, lastFail int64
	for {
		select {
		case <-end:
			wg.Wait()
			return okN.Load(), failN.Load()
		case now := <-report.C:
			o, f := okN.Load(), failN.Load()
			fmt.Printf("%d ok %d fail %d\n", now.UnixMilli(), o-lastOK, f-lastFail)
			lastOK, lastFail = o, f
		case <-tick.C:
			select {
			case slots <- struct{}{}:
			default:
				// Too many in flight: the server is not keeping up. Count
				// it as a failure rather than queue without bound.
				failN.Add(1)
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-slots }()
				if err := request(&d, o); err != nil {
					failN.Add(1)
					return
				}
				okN.Add(1)
			}()
		}
	}
}

func main() {
	o, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "connrate:", err)
		os.Exit(2)
	}
	ok, fail := run(o)
	fmt.Printf("total ok %d fail %d seconds %d\n", ok, fail, o.seconds)
}
