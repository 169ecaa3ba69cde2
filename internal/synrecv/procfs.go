package synrecv

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
)

// ProcSource streams /proc/net/tcp and /proc/net/tcp6 under a procfs mount
// point. It parses each line in place, without the per-line allocations of
// procfs's NetTCP (which builds a slice of every socket and a net.IP per
// address; see BenchmarkProcNetTCP), so that memory stays flat at 100,000
// sockets. Reading /proc/net/* reports the sockets of the reading process's
// network namespace.
type ProcSource struct {
	files [2]string
	r     *bufio.Reader
}

// NewProcSource returns a ProcSource for the procfs mounted at procPath.
func NewProcSource(procPath string) *ProcSource {
	return &ProcSource{
		files: [2]string{filepath.Join(procPath, "net", "tcp"), filepath.Join(procPath, "net", "tcp6")},
		r:     bufio.NewReaderSize(nil, 64<<10),
	}
}

// Sockets implements Source. A missing or unreadable file, or a line that
// does not parse, is an error naming the file and line.
func (p *ProcSource) Sockets(visit func(Socket)) error {
	for _, name := range p.files {
		if err := p.readFile(name, visit); err != nil {
			return err
		}
	}
	return nil
}

func (p *ProcSource) readFile(name string, visit func(Socket)) error {
	f, err := os.Open(name)
	if err != nil {
		return fmt.Errorf("read TCP sockets: %w", err)
	}
	defer f.Close()
	p.r.Reset(f)
	defer p.r.Reset(nil)
	if err := ParseProcNetTCP(p.r, visit); err != nil {
		return fmt.Errorf("read TCP sockets from %s: %w", name, err)
	}
	return nil
}

// Close implements Source.
func (p *ProcSource) Close() error { return nil }

// ParseProcNetTCP parses the contents of /proc/net/tcp or /proc/net/tcp6
// (the header line first) and calls visit for each SYN_RECV and LISTEN
// socket. An error names the line. It allocates nothing per line when r is
// a *bufio.Reader whose buffer holds a whole line.
func ParseProcNetTCP(r *bufio.Reader, visit func(Socket)) error {
	lineNo := 0
	for {
		line, err := r.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			return fmt.Errorf("line %d: longer than %d bytes", lineNo+1, r.Size())
		}
		if len(line) > 0 {
			lineNo++
			if lineNo > 1 { // the first line is the header
				if perr := parseProcLine(line, visit); perr != nil {
					return fmt.Errorf("line %d: %w", lineNo, perr)
				}
			} else if !bytes.Contains(line, []byte("local_address")) {
				return fmt.Errorf("line 1: not a /proc/net/tcp header: %q", bytes.TrimSpace(line))
			}
		}
		if err != nil {
			if err == io.EOF {
				if lineNo == 0 {
					return fmt.Errorf("empty file, expected at least a header line")
				}
				return nil
			}
			return err
		}
	}
}

// field returns the next space-separated field of b and the rest.
func field(b []byte) (f, rest []byte) {
	i := 0
	for i < len(b) && (b[i] == ' ' || b[i] == '\t') {
		i++
	}
	j := i
	for j < len(b) && b[j] != ' ' && b[j] != '\t' && b[j] != '\n' {
		j++
	}
	return b[i:j], b[j:]
}

// parseProcLine reads "sl: local rem st ..." of one socket line.
func parseProcLine(line []byte, visit func(Socket)) error {
	sl, rest := field(line)
	if len(sl) < 2 || sl[len(sl)-1] != ':' {
		return fmt.Errorf("malformed slot %q", truncate(sl))
	}
	local, rest := field(rest)
	remote, rest := field(rest)
	st, _ := field(rest)
	state, ok := hexUint(st, 2)
	if !ok {
		return fmt.Errorf("malformed state %q", truncate(st))
	}
	la, lport, err := parseHexAddrPort(local)
	if err != nil {
		return fmt.Errorf("local address: %w", err)
	}
	ra, _, err := parseHexAddrPort(remote)
	if err != nil {
		return fmt.Errorf("remote address: %w", err)
	}
	if state != StateSynRecv && state != StateListen {
		return nil
	}
	s := Socket{State: uint8(state), LocalPort: lport, Local: la, Remote: ra}
	if s.State == StateListen {
		s.Remote = netip.Addr{}
	}
	visit(s)
	return nil
}

// parseHexAddrPort reads "0100007F:0019" or the 32-digit IPv6 form. The
// kernel prints each 32-bit word of the address as a number in host byte
// order, so writing the number back in native order restores the bytes.
func parseHexAddrPort(b []byte) (netip.Addr, uint16, error) {
	var n int
	switch len(b) {
	case 8 + 1 + 4:
		n = 4
	case 32 + 1 + 4:
		n = 16
	default:
		return netip.Addr{}, 0, fmt.Errorf("malformed %q", truncate(b))
	}
	if b[2*n] != ':' {
		return netip.Addr{}, 0, fmt.Errorf("malformed %q", truncate(b))
	}
	var a [16]byte
	for w := 0; w < n/4; w++ {
		v, ok := hexUint(b[8*w:8*w+8], 8)
		if !ok {
			return netip.Addr{}, 0, fmt.Errorf("malformed %q", truncate(b))
		}
		binary.NativeEndian.PutUint32(a[4*w:], uint32(v))
	}
	port, ok := hexUint(b[2*n+1:], 4)
	if !ok {
		return netip.Addr{}, 0, fmt.Errorf("malformed port in %q", truncate(b))
	}
	if n == 4 {
		return netip.AddrFrom4([4]byte(a[:4])), uint16(port), nil
	}
	return netip.AddrFrom16(a), uint16(port), nil
}

// hexUint parses exactly digits hex digits.
func hexUint(b []byte, digits int) (uint64, bool) {
	if len(b) != digits {
		return 0, false
	}
	var v uint64
	for _, c := range b {
		switch {
		case c >= '0' && c <= '9':
			v = v<<4 | uint64(c-'0')
		case c >= 'A' && c <= 'F':
			v = v<<4 | uint64(c-'A'+10)
		case c >= 'a' && c <= 'f':
			v = v<<4 | uint64(c-'a'+10)
		default:
			return 0, false
		}
	}
	return v, true
}

func truncate(b []byte) string {
	if len(b) > 40 {
		return string(b[:40]) + "..."
	}
	return string(b)
}
