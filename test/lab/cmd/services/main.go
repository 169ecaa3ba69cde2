// Command services runs the small SMTP, POP3, HTTP and FTP servers of the
// whole-loop lab: real listeners that accept and answer, so a SYN flood that
// fills a listen queue really makes a service stop answering, and a block
// really brings it back. They speak just enough of each protocol for the
// exporter's probes and the control host (a greeting, a few commands, QUIT).
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

// dialogue answers one line-based protocol: a greeting, replies by command.
type dialogue struct {
	name     string
	greeting string
	replies  map[string]string // upper-case command -> reply
	other    string            // reply to any other command
	quit     string            // reply to QUIT, then close
}

func main() {
	var (
		host     = flag.String("hostname", "victim.example", "host name in greetings")
		smtpAddr = flag.String("smtp", ":25", "SMTP listen address (empty: off)")
		pop3Addr = flag.String("pop3", ":110", "POP3 listen address (empty: off)")
		httpAddr = flag.String("http", ":80", "HTTP listen address (empty: off)")
		ftpAddr  = flag.String("ftp", ":21", "FTP listen address (empty: off)")
		seconds  = flag.Int("seconds", 3600, "exit by itself after this many seconds")
	)
	flag.Parse()
	log.SetFlags(log.LstdFlags | log.Lmicroseconds)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, time.Duration(*seconds)*time.Second)
	defer cancel()

	dialogues := map[string]dialogue{
		*smtpAddr: {
			name:     "smtp",
			greeting: "220 " + *host + " ESMTP synguard-lab",
			replies: map[string]string{
				"EHLO": "250-" + *host + "\r\n250 PIPELINING",
				"HELO": "250 " + *host,
				"NOOP": "250 OK",
				"RSET": "250 OK",
			},
			other: "502 5.5.1 command not implemented",
			quit:  "221 2.0.0 bye",
		},
		*pop3Addr: {
			name:     "pop3",
			greeting: "+OK synguard-lab POP3 ready",
			replies: map[string]string{
				"CAPA": "+OK\r\nUSER\r\n.",
				"USER": "+OK",
				"PASS": "+OK",
				"STAT": "+OK 0 0",
				"NOOP": "+OK",
			},
			other: "-ERR unknown command",
			quit:  "+OK bye",
		},
		*ftpAddr: {
			name:     "ftp",
			greeting: "220 synguard-lab FTP ready",
			replies: map[string]string{
				"USER": "331 password please",
				"PASS": "230 logged in",
				"SYST": "215 UNIX Type: L8",
				"NOOP": "200 OK",
				"FEAT": "211 no features",
			},
			other: "502 command not implemented",
			quit:  "221 bye",
		},
	}
	errc := make(chan error, 4)
	for addr, d := range dialogues {
		if addr == "" {
			continue
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			log.Fatalf("listen %s on %s: %v", d.name, addr, err)
		}
		log.Printf("%s listening on %s", d.name, ln.Addr())
		go func() { errc <- serveLines(ctx, ln, d) }()
	}
	if *httpAddr != "" {
		ln, err := net.Listen("tcp", *httpAddr)
		if err != nil {
			log.Fatalf("listen http on %s: %v", *httpAddr, err)
		}
		log.Printf("http listening on %s", ln.Addr())
		srv := &http.Server{
			Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				fmt.Fprintf(w, "synguard-lab web server on %s\n", *host)
			}),
			ReadHeaderTimeout: 10 * time.Second,
		}
		go func() { errc <- srv.Serve(ln) }()
		go func() { <-ctx.Done(); srv.Close() }()
	}
	select {
	case <-ctx.Done():
	case err := <-errc:
		log.Fatalf("serve: %v", err)
	}
}

func serveLines(ctx context.Context, ln net.Listener, d dialogue) error {
	go func() { <-ctx.Done(); ln.Close() }()
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("accept %s: %w", d.name, err)
		}
		go converse(c, d)
	}
}

// converse runs one session; a client silent for 30 s is dropped, so idle
// connections cannot pile up during a long demo.
func converse(c net.Conn, d dialogue) {
	defer c.Close()
	w := bufio.NewWriter(c)
	say := func(s string) bool {
		c.SetWriteDeadline(time.Now().Add(10 * time.Second))
		w.WriteString(s + "\r\n")
		return w.Flush() == nil
	}
	if !say(d.greeting) {
		return
	}
	r := bufio.NewReader(c)
	for {
		c.SetReadDeadline(time.Now().Add(30 * time.Second))
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		cmd := strings.ToUpper(strings.Fields(line + " x")[0])
		if cmd == "QUIT" {
			say(d.quit)
			return
		}
		reply, ok := d.replies[cmd]
		if !ok {
			reply = d.other
		}
		if !say(reply) {
			return
		}
	}
}
