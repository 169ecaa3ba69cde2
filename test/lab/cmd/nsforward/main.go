// Command nsforward forwards TCP from the root network namespace's loopback
// into a lab network namespace, so a person can open Prometheus's and the
// responder's pages (http://127.0.0.1:PORT/) while a lab runs, without the
// lab adding any interface, address or route to the root namespace.
//
// Each -map LISTEN=NETNS/TARGET listens on LISTEN where nsforward runs and,
// per connection, dials TARGET from inside the named namespace
// (/run/netns/NETNS): the dialling thread enters the namespace with setns,
// creates the socket there and returns, and the socket stays in it.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

type mapping struct {
	listen, netns, target string
}

type maps []mapping

func (m *maps) String() string { return fmt.Sprint(*m) }

func (m *maps) Set(s string) error {
	listen, rest, ok := strings.Cut(s, "=")
	netns, target, ok2 := strings.Cut(rest, "/")
	if !ok || !ok2 || listen == "" || netns == "" || target == "" {
		return fmt.Errorf("want LISTEN=NETNS/TARGET, got %q", s)
	}
	*m = append(*m, mapping{listen, netns, target})
	return nil
}

func main() {
	var ms maps
	flag.Var(&ms, "map", "LISTEN=NETNS/TARGET, for example 127.0.0.1:29090=sgl-mon/127.0.0.1:9090 (repeatable)")
	seconds := flag.Int("seconds", 3600, "exit by itself after this many seconds")
	flag.Parse()
	if len(ms) == 0 {
		log.Fatal("nsforward: no -map given")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, time.Duration(*seconds)*time.Second)
	defer cancel()

	for _, m := range ms {
		ln, err := net.Listen("tcp", m.listen)
		if err != nil {
			log.Fatalf("nsforward: listen %s: %v", m.listen, err)
		}
		log.Printf("nsforward: %s -> netns %s %s", ln.Addr(), m.netns, m.target)
		go func() { <-ctx.Done(); ln.Close() }()
		go serve(ln, m)
	}
	<-ctx.Done()
}

func serve(ln net.Listener, m mapping) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			up, err := dialIn(m.netns, m.target)
			if err != nil {
				log.Printf("nsforward: %v", err)
				return
			}
			defer up.Close()
			pipe(c, up)
		}()
	}
}

// pipe copies both ways until either side ends, then closes both.
func pipe(a, b net.Conn) {
	var wg sync.WaitGroup
	wg.Add(2)
	cp := func(dst, src net.Conn) {
		defer wg.Done()
		io.Copy(dst, src)
		dst.Close()
		src.Close()
	}
	go cp(a, b)
	go cp(b, a)
	wg.Wait()
}

// dialIn dials target from inside network namespace netns. The work happens
// on a locked OS thread that enters the namespace and leaves it again; if it
// cannot leave, the thread stays locked and Go discards it when the
// goroutine ends, so no other goroutine ever runs in the wrong namespace.
func dialIn(netns, target string) (net.Conn, error) {
	type result struct {
		c   net.Conn
		err error
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			runtime.UnlockOSThread()
			done <- result{nil, fmt.Errorf("open own netns: %w", err)}
			return
		}
		defer orig.Close()
		ns, err := os.Open("/run/netns/" + netns)
		if err != nil {
			runtime.UnlockOSThread()
			done <- result{nil, fmt.Errorf("open netns %s: %w", netns, err)}
			return
		}
		defer ns.Close()
		if err := unix.Setns(int(ns.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			done <- result{nil, fmt.Errorf("enter netns %s: %w", netns, err)}
			return
		}
		c, err := net.DialTimeout("tcp", target, 5*time.Second)
		if serr := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); serr == nil {
			runtime.UnlockOSThread()
		}
		if err != nil {
			err = fmt.Errorf("dial %s in netns %s: %w", target, netns, err)
		}
		done <- result{c, err}
	}()
	r := <-done
	return r.c, r.err
}
