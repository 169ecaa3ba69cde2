package synrecv

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/procfs"
)

// procTree writes a procfs tree whose net/tcp holds n SYN_RECV lines and
// whose net/tcp6 is empty.
func procTree(b *testing.B, n int) string {
	b.Helper()
	dir := b.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "net"), 0o755); err != nil {
		b.Fatal(err)
	}
	var sb strings.Builder
	sb.WriteString(strings.SplitAfter(tcp4Fixture, "\n")[0])
	for i := 0; i < n; i++ {
		fmt.Fprintf(&sb, "%6d: 016433C6:0019 %02X7100CB:%04X 03 00000000:00000000 02:000003E8 00000002     0        0 0 0 0000000000000000\n",
			i, i%6*32+i%32, 1024+i%60000)
	}
	if err := os.WriteFile(filepath.Join(dir, "net", "tcp"), []byte(sb.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "net", "tcp6"), []byte(strings.SplitAfter(tcp6Fixture, "\n")[0]), 0o644); err != nil {
		b.Fatal(err)
	}
	return dir
}

// BenchmarkProcNetTCP is why ProcSource has its own parser: procfs's NetTCP
// returns every line as a struct with two net.IPs, so its memory grows with
// the socket count, while the streaming parser's does not.
func BenchmarkProcNetTCP(b *testing.B) {
	const n = 100_000
	dir := procTree(b, n)
	b.Run("procfs.NetTCP", func(b *testing.B) {
		fs, err := procfs.NewFS(dir)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			//lint:ignore SA1019 measuring the deprecated reader is the point of this benchmark
			tcp, err := fs.NetTCP()
			if err != nil || len(tcp) != n {
				b.Fatalf("NetTCP: %d lines, %v", len(tcp), err)
			}
		}
	})
	b.Run("ProcSource+Aggregator", func(b *testing.B) {
		src := NewProcSource(dir)
		a := NewAggregator(DefaultOptions())
		add := a.Add
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			a.Reset()
			if err := src.Sockets(add); err != nil {
				b.Fatal(err)
			}
			if r := a.Result(); r.Family[IPv4].Top[0].Count == 0 {
				b.Fatal("nothing counted")
			}
		}
	})
}
