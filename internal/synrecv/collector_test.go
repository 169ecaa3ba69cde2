package synrecv

import (
	"errors"
	"net"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// fakeSource replays sockets, then fails with err when set.
type fakeSource struct {
	sockets []Socket
	err     error
}

func (f *fakeSource) Sockets(visit func(Socket)) error {
	for _, s := range f.sockets {
		visit(s)
	}
	return f.err
}

func (f *fakeSource) Close() error { return nil }

func gather(t *testing.T, c *Collector) (map[string]float64, error) {
	t.Helper()
	ch := make(chan prometheus.Metric, 100)
	err := c.Update(ch)
	close(ch)
	got := map[string]float64{}
	for m := range ch {
		var d dto.Metric
		if err := m.Write(&d); err != nil {
			t.Fatal(err)
		}
		desc := m.Desc().String()
		name := desc[strings.Index(desc, `"`)+1:]
		name = name[:strings.Index(name, `"`)]
		for _, l := range d.GetLabel() {
			name += " " + l.GetValue()
		}
		got[name] = d.GetGauge().GetValue()
	}
	return got, err
}

func TestCollector(t *testing.T) {
	src := &fakeSource{sockets: []Socket{
		listen("0.0.0.0", 25),
		syn("198.51.100.1", 25, "203.0.113.33"),
		syn("198.51.100.1", 25, "203.0.113.34"),
		syn("2001:db8::1", 25, "2001:db8:1::1"),
	}}
	c := NewCollector(src, DefaultOptions())
	got, err := gather(t, c)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]float64{
		"synguard_syn_recv_sockets ipv4 203.0.113.32/27": 2,
		"synguard_syn_recv_sockets ipv4 other":           0,
		"synguard_syn_recv_sockets ipv6 2001:db8:1::/64": 1,
		"synguard_syn_recv_prefixes ipv4":                1,
		"synguard_syn_recv_sources ipv4":                 2,
		"synguard_syn_recv_port_sockets 25":              3,
	} {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	// A source failing half-way (a truncated netlink message, a corrupt
	// /proc line) publishes nothing rather than a partial count.
	src.err = errors.New("message 3: truncated inet_diag_msg: 40 bytes, want at least 72")
	got, err = gather(t, c)
	if err == nil || len(got) != 0 {
		t.Fatalf("failing source: %d metrics, error %v", len(got), err)
	}
}

// TestNetlinkSourceLive asks the running kernel: a loopback listener of
// this test must show as a LISTEN socket, in this network namespace,
// without privileges.
func TestNetlinkSourceLive(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := uint16(ln.Addr().(*net.TCPAddr).Port)
	src := NewNetlinkSource()
	defer src.Close()
	found := false
	visit := func(s Socket) {
		if s.State == StateListen && s.LocalPort == port {
			found = true
		}
	}
	if err := src.Sockets(visit); err != nil {
		t.Fatalf("sock_diag dump: %v", err)
	}
	if !found {
		t.Fatalf("listener on 127.0.0.1:%d not in the sock_diag dump", port)
	}
	// Dumps after the first reuse the socket and buffer: what a dump
	// allocates (the request) does not grow with the sockets it reads.
	before := testing.AllocsPerRun(20, func() { _ = src.Sockets(visit) })
	for i := 0; i < 500; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
	}
	after := testing.AllocsPerRun(20, func() { _ = src.Sockets(visit) })
	if after > before+2 || before > 40 {
		t.Errorf("a netlink dump allocates %v times, %v with 500 more sockets", before, after)
	}
}
