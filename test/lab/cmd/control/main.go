// Command control is the whole-loop lab's control host: an ordinary SMTP
// client that, from its own address outside the flooding ranges, opens a
// session every interval (banner, EHLO, QUIT) and prints one line per try:
// "<unix ms> ok <ms taken>" or "<unix ms> fail <reason>". The lab reads the
// lines to show that the host is never blocked and is served again once the
// flooding ranges are.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"net"
	"os"
	"strings"
	"time"
)

func main() {
	target := flag.String("target", "", "SMTP server host:port")
	bind := flag.String("bind", "", "local address to connect from")
	interval := flag.Duration("interval", time.Second, "time between sessions")
	timeout := flag.Duration("timeout", 2*time.Second, "timeout of one session")
	seconds := flag.Int("seconds", 3600, "exit by itself after this many seconds")
	flag.Parse()
	d := net.Dialer{Timeout: *timeout}
	if *bind != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(*bind)}
	}
	end := time.Now().Add(time.Duration(*seconds) * time.Second)
	for time.Now().Before(end) {
		t0 := time.Now()
		err := session(&d, *target, *timeout)
		if err != nil {
			fmt.Printf("%d fail %v\n", t0.UnixMilli(), err)
		} else {
			fmt.Printf("%d ok %d\n", t0.UnixMilli(), time.Since(t0).Milliseconds())
		}
		os.Stdout.Sync()
		if wait := *interval - time.Since(t0); wait > 0 {
			time.Sleep(wait)
		}
	}
}

func session(d *net.Dialer, target string, timeout time.Duration) error {
	c, err := d.Dial("tcp", target)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(timeout))
	r := bufio.NewReader(c)
	expect := func(code string) error {
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return fmt.Errorf("read: %w", err)
			}
			if !strings.HasPrefix(line, code) {
				return fmt.Errorf("unexpected reply %q", strings.TrimSpace(line))
			}
			if len(line) < 4 || line[3] != '-' { // last line of a multi-line reply
				return nil
			}
		}
	}
	if err := expect("220"); err != nil {
		return fmt.Errorf("banner: %w", err)
	}
	fmt.Fprintf(c, "EHLO control.example\r\n")
	if err := expect("250"); err != nil {
		return fmt.Errorf("EHLO: %w", err)
	}
	fmt.Fprintf(c, "QUIT\r\n")
	return expect("221")
}
