// Command probetargets serves the probe benchmark's targets on loopback: N
// ports that greet like a POP3 server and N ports that accept and never say
// a word, so every probe of them times out. It prints "ok PORT" and
// "silent PORT" lines, then serves until -duration has passed or it is
// signalled. Used by test/bench/probes.sh only.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	ok := flag.Int("ok", 100, "answering targets")
	silent := flag.Int("silent", 100, "silent targets")
	duration := flag.Duration("duration", 10*time.Minute, "serve this long at most")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *duration)
	defer cancel()
	for i := 0; i < *ok+*silent; i++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			fmt.Fprintln(os.Stderr, "probetargets:", err)
			os.Exit(1)
		}
		kind, greet := "ok", "+OK benchmark target ready\r\n"
		if i >= *ok {
			kind, greet = "silent", ""
		}
		fmt.Printf("%s %d\n", kind, ln.Addr().(*net.TCPAddr).Port)
		go serve(ctx, ln, greet)
	}
	<-ctx.Done()
}

func serve(ctx context.Context, ln net.Listener, greet string) {
	go func() { <-ctx.Done(); ln.Close() }()
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			// Bounded: the prober closes within its timeout, and this
			// deadline ends a connection whose client vanished.
			_ = c.SetDeadline(time.Now().Add(30 * time.Second))
			if greet != "" {
				if _, err := io.WriteString(c, greet); err != nil {
					return
				}
			}
			_, _ = io.Copy(io.Discard, c)
		}()
	}
}
