package probe

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"time"

	probing "github.com/prometheus-community/pro-bing"
	"golang.org/x/net/icmp"
)

// ErrICMPUnavailable is wrapped by DetectICMP's error when this process can
// open neither kind of ICMP socket.
var ErrICMPUnavailable = errors.New("icmp probes unavailable")

// ICMPListener opens an ICMP socket the way icmp.ListenPacket does; tests
// replace it to see DetectICMP's choices.
type ICMPListener func(network, address string) (interface{ Close() error }, error)

func listenICMP(network, address string) (interface{ Close() error }, error) {
	return icmp.ListenPacket(network, address)
}

// DetectICMP finds how this process can send ICMP echo requests: an
// unprivileged ping socket where net.ipv4.ping_group_range holds one of its
// groups (privileged=false), else a raw socket, which needs CAP_NET_RAW
// (privileged=true). Where neither opens, the error says what to change.
func DetectICMP(listen ICMPListener) (privileged bool, err error) {
	if listen == nil {
		listen = listenICMP
	}
	c, uerr := listen("udp4", "0.0.0.0")
	if uerr == nil {
		c.Close()
		return false, nil
	}
	c, rerr := listen("ip4:icmp", "0.0.0.0")
	if rerr == nil {
		c.Close()
		return true, nil
	}
	rng, _ := os.ReadFile("/proc/sys/net/ipv4/ping_group_range")
	return false, fmt.Errorf("%w: unprivileged ping socket refused (net.ipv4.ping_group_range is %q, this process's gid is %d: %v) and raw socket refused (needs CAP_NET_RAW: %v); "+
		"set sysctl net.ipv4.ping_group_range=\"0 2147483647\" or grant CAP_NET_RAW (systemd: AmbientCapabilities=CAP_NET_RAW)",
		ErrICMPUnavailable, strings.Join(strings.Fields(string(rng)), " "), os.Getgid(), uerr, rerr)
}

// probeICMP sends one echo request and waits for its reply.
func (p *Prober) probeICMP(ctx context.Context, m *Module, target string, tr *trace) error {
	if p.ICMPErr != nil {
		return p.ICMPErr
	}
	ip, err := resolve(ctx, target, m.IPProtocol)
	if err != nil {
		return err
	}
	tr.mark(PhaseResolve)
	tr.ip = ip
	dl, ok := ctx.Deadline()
	if !ok {
		dl = time.Now().Add(m.Timeout.Std())
	}
	pinger := probing.New("")
	pinger.SetIPAddr(&net.IPAddr{IP: ip.AsSlice(), Zone: ip.Zone()})
	pinger.SetPrivileged(p.ICMPPrivileged)
	pinger.SetLogger(probing.NoopLogger{})
	pinger.Count = 1
	pinger.Interval = time.Until(dl) + time.Second // one request only
	pinger.Timeout = time.Until(dl)
	// The socket's setup is what passes between the address and the echo
	// request leaving (blackbox's "setup" phase).
	setupFrom := time.Now()
	var sent atomic.Int64
	pinger.OnSend = func(*probing.Packet) { sent.CompareAndSwap(0, int64(time.Since(setupFrom))) }
	// pro-bing ends its own goroutines on ctx's end or after Timeout.
	runErr := pinger.RunWithContext(ctx)
	st := pinger.Statistics()
	tr.icmp = &ICMPInfo{Setup: time.Duration(sent.Load())}
	if st.PacketsRecv > 0 {
		if n := len(st.TTLs); n > 0 {
			tr.icmp.HopLimit = int(st.TTLs[n-1])
		}
		tr.add(PhaseEcho, st.MinRtt)
		tr.last = time.Now()
		return nil
	}
	if runErr != nil {
		return fmt.Errorf("icmp echo to %s: %w", ip, runErr)
	}
	return fmt.Errorf("icmp echo to %s: no reply within %s", ip, m.Timeout)
}
