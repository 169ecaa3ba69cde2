package synrecv

import (
	"bufio"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const tcp4Fixture = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:0019 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 10000 1 0000000000000000 100 0 0 10 0
   1: 016433C6:0016 630200C0:C738 01 00000000:00000000 00:00000000 00000000     0        0 10003 1 0000000000000000 100 0 0 10 0
   2: 016433C6:0019 1F7100CB:9C46 03 00000000:00000000 02:000003E8 00000002     0        0 0 0 0000000000000000
   3: 016433C6:024B 207100CB:9C47 03 00000000:00000000 02:000003E8 00000002     0        0 0 0 0000000000000000
`

const tcp6Fixture = `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:0019 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 10000 1 0000000000000000 100 0 0 10 0
   1: B80D0120000000000000000001000000:0019 B80D0120000001000000000005000000:9C54 03 00000000:00000000 02:000003E8 00000002     0        0 0 0 0000000000000000
   2: 0000000000000000FFFF0000016433C6:0019 0000000000000000FFFF0000287100CB:9C58 03 00000000:00000000 02:000003E8 00000002     0        0 0 0 0000000000000000`

func parseString(t *testing.T, s string) ([]Socket, error) {
	t.Helper()
	var got []Socket
	err := ParseProcNetTCP(bufio.NewReader(strings.NewReader(s)), collect(&got))
	return got, err
}

func TestParseProcNetTCP(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []Socket
	}{
		{name: "ipv4", in: tcp4Fixture, want: []Socket{
			{State: StateListen, LocalPort: 25, Local: netip.MustParseAddr("0.0.0.0")},
			{State: StateSynRecv, LocalPort: 25, Local: netip.MustParseAddr("198.51.100.1"), Remote: netip.MustParseAddr("203.0.113.31")},
			{State: StateSynRecv, LocalPort: 587, Local: netip.MustParseAddr("198.51.100.1"), Remote: netip.MustParseAddr("203.0.113.32")},
		}},
		{name: "ipv6 and mapped, no final newline", in: tcp6Fixture, want: []Socket{
			{State: StateListen, LocalPort: 25, Local: netip.MustParseAddr("::")},
			{State: StateSynRecv, LocalPort: 25, Local: netip.MustParseAddr("2001:db8::1"), Remote: netip.MustParseAddr("2001:db8:1::5")},
			{State: StateSynRecv, LocalPort: 25, Local: netip.MustParseAddr("::ffff:198.51.100.1"), Remote: netip.MustParseAddr("::ffff:203.0.113.40")},
		}},
		{name: "header only", in: strings.SplitAfter(tcp4Fixture, "\n")[0]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseString(t, tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got, addrCmp); diff != "" {
				t.Fatalf("unexpected sockets (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseProcNetTCPCorrupt(t *testing.T) {
	lines := strings.SplitAfter(tcp4Fixture, "\n")
	tests := []struct {
		name, line, wantErr string
	}{
		{name: "bad hex", line: "   4: 016433C6:0019 1F7100ZB:9C46 03 00000000:00000000\n", wantErr: `line 5: remote address: malformed "1F7100ZB:9C46"`},
		{name: "truncated line", line: "   4: 016433C6:0019\n", wantErr: `line 5: malformed state ""`},
		{name: "short address", line: "   4: 016433C6:019 1F7100CB:9C46 03\n", wantErr: `line 5: local address: malformed "016433C6:019"`},
		{name: "garbage", line: "hello world\n", wantErr: `line 5: malformed slot "hello"`},
		{name: "bad state", line: "   4: 016433C6:0019 1F7100CB:9C46 3 0\n", wantErr: `line 5: malformed state "3"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := strings.Join(lines[:4], "") + tt.line
			_, err := parseString(t, in)
			if err == nil || err.Error() != tt.wantErr {
				t.Fatalf("error = %v, want %q", err, tt.wantErr)
			}
		})
	}
	if _, err := parseString(t, ""); err == nil {
		t.Error("empty file accepted")
	}
	if _, err := parseString(t, "not a header\n"); err == nil {
		t.Error("missing header accepted")
	}
}

func TestProcSource(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "net"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "net", "tcp"), []byte(tcp4Fixture), 0o644); err != nil {
		t.Fatal(err)
	}
	src := NewProcSource(dir)
	err := src.Sockets(func(Socket) {})
	if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "net", "tcp6")) {
		t.Fatalf("missing tcp6: error %v, want one naming the file", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "net", "tcp6"), []byte(tcp6Fixture), 0o644); err != nil {
		t.Fatal(err)
	}
	n := 0
	if err := src.Sockets(func(Socket) { n++ }); err != nil || n != 6 {
		t.Fatalf("Sockets = %d sockets, %v; want 6, nil", n, err)
	}
	if a := testing.AllocsPerRun(20, func() { _ = src.Sockets(func(Socket) {}) }); a > 10 {
		t.Errorf("ProcSource allocates %v times per read of two files", a)
	}
}
