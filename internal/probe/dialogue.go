package probe

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
)

// maxLineLen bounds one reply line: a server that sends a stream of garbage
// without a line break fails here instead of filling memory.
const maxLineLen = 4096

// probeDialogue connects (tcp, smtp, pop3, ftp), optionally wraps the
// connection in TLS, and runs the module's dialogue.
func (p *Prober) probeDialogue(ctx context.Context, m *Module, target string, tr *trace) error {
	host, port, err := splitHostPort(target)
	if err != nil {
		return err
	}
	ip, err := resolve(ctx, host, m.IPProtocol)
	if err != nil {
		return err
	}
	tr.mark(PhaseResolve)
	tr.ip = ip
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", netip.AddrPortFrom(ip, port).String())
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Close()
	tr.mark(PhaseConnect)
	// The deadline bounds every read and write; closing on cancel also ends
	// a read blocked in a TLS handshake, so the goroutine never outlives ctx.
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()

	var c net.Conn = conn
	if m.TLS {
		tc := tls.Client(conn, tlsConfigFor(m, host))
		if err := tc.HandshakeContext(ctx); err != nil {
			return fmt.Errorf("tls handshake: %w", err)
		}
		tr.tlsState(tc.ConnectionState())
		tr.mark(PhaseTLS)
		c = tc
	}
	return runDialogue(ctx, c, m.steps, func() *tls.Config { return tlsConfigFor(m, host) }, tr)
}

// runDialogue runs steps over c. tlsConf gives the config for a starttls step.
func runDialogue(ctx context.Context, c net.Conn, steps []Step, tlsConf func() *tls.Config, tr *trace) error {
	r := bufio.NewReaderSize(c, maxLineLen)
	sent := false
	for i, st := range steps {
		phase := PhaseDialogue
		if !sent && st.Send == "" && st.Expect != nil {
			phase = PhaseBanner
		}
		if st.Send != "" {
			if _, err := io.WriteString(c, st.Send+"\r\n"); err != nil {
				return fmt.Errorf("step %d: send %q: %w", i+1, redact(st.Send), err)
			}
			sent = true
		}
		if st.Expect != nil {
			if err := expect(r, st); err != nil {
				var mm mismatch
				tr.regexFailed = errors.As(err, &mm)
				return fmt.Errorf("step %d: %w", i+1, err)
			}
		}
		if st.StartTLS {
			tr.mark(phase)
			if r.Buffered() > 0 {
				// Anything the server sent after its go-ahead would be read as
				// if it came over TLS: the STARTTLS injection flaw. Refuse.
				return fmt.Errorf("step %d: server sent %d bytes after its STARTTLS reply", i+1, r.Buffered())
			}
			tc := tls.Client(c, tlsConf())
			if err := tc.HandshakeContext(ctx); err != nil {
				return fmt.Errorf("step %d: starttls handshake: %w", i+1, err)
			}
			tr.tlsState(tc.ConnectionState())
			tr.mark(PhaseTLS)
			c = tc
			r = bufio.NewReaderSize(c, maxLineLen)
			continue
		}
		tr.mark(phase)
	}
	return nil
}

// expect reads lines until one matches st.Expect, passing over lines that
// match st.Skip; any other line is an unexpected reply.
func expect(r *bufio.Reader, st Step) error {
	for {
		line, err := r.ReadSlice('\n')
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			return fmt.Errorf("expect %q: reply line longer than %d bytes", st.Expect, maxLineLen)
		case err != nil && len(line) > 0:
			return fmt.Errorf("expect %q: got partial line %s: %w", st.Expect, quote(line), err)
		case err != nil:
			return fmt.Errorf("expect %q: %w", st.Expect, err)
		}
		line = bytes.TrimRight(line, "\r\n")
		if st.Expect.Match(line) {
			return nil
		}
		if st.Skip != nil && st.Skip.Match(line) {
			continue
		}
		return mismatch(fmt.Sprintf("expect %q: got %s", st.Expect, quote(line)))
	}
}

// mismatch is a reply that does not match what the step expects (the
// server answered, wrongly): blackbox's probe_failed_due_to_regex.
type mismatch string

func (m mismatch) Error() string { return string(m) }

func quote(b []byte) string {
	if len(b) > 120 {
		return strconv.Quote(string(b[:120])) + "..."
	}
	return strconv.Quote(string(b))
}

// redact hides a password from errors and logs.
func redact(send string) string {
	if len(send) > 5 && (send[:5] == "PASS " || send[:5] == "pass ") {
		return "PASS ***"
	}
	return send
}
