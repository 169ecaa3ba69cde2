package probe

import (
	"errors"
	"strings"
	"syscall"
	"testing"
)

type fakeSocket struct{}

func (fakeSocket) Close() error { return nil }

func TestDetectICMP(t *testing.T) {
	refuse := func(allow ...string) ICMPListener {
		return func(network, _ string) (interface{ Close() error }, error) {
			for _, a := range allow {
				if a == network {
					return fakeSocket{}, nil
				}
			}
			if network == "udp4" {
				return nil, syscall.EACCES
			}
			return nil, syscall.EPERM
		}
	}
	tests := []struct {
		name     string
		listen   ICMPListener
		wantPriv bool
		wantErr  bool
	}{
		{name: "ping socket", listen: refuse("udp4", "ip4:icmp"), wantPriv: false},
		{name: "raw only", listen: refuse("ip4:icmp"), wantPriv: true},
		{name: "neither", listen: refuse(), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			priv, err := DetectICMP(tt.listen)
			if (err != nil) != tt.wantErr || priv != tt.wantPriv {
				t.Fatalf("DetectICMP = %v, %v; want privileged %v, error %v", priv, err, tt.wantPriv, tt.wantErr)
			}
			if err != nil {
				if !errors.Is(err, ErrICMPUnavailable) {
					t.Errorf("error %v does not wrap ErrICMPUnavailable", err)
				}
				for _, s := range []string{"ping_group_range", "CAP_NET_RAW"} {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q does not say %s", err, s)
					}
				}
			}
		})
	}
}

// TestICMPLoopback pings 127.0.0.1 and ::1 with whatever socket this process
// may open: a ping socket where ping_group_range allows, raw as root.
func TestICMPLoopback(t *testing.T) {
	priv, err := DetectICMP(nil)
	if err != nil {
		t.Skipf("no ICMP socket for this process (run as root or widen ping_group_range): %v", err)
	}
	t.Logf("icmp privileged (raw) = %v", priv)
	p := &Prober{ICMPPrivileged: priv}
	for _, tc := range []struct{ target, proto string }{{"127.0.0.1", ""}, {"::1", ""}, {"localhost", "ip4"}} {
		m := module(t, "prober: icmp\ntimeout: 2s\n"+map[bool]string{true: "ip_protocol: " + tc.proto + "\n"}[tc.proto != ""])
		r := p.Probe(t.Context(), "m", m, tc.target)
		if !r.Success {
			t.Errorf("ping %s: %v", tc.target, r.Err)
			continue
		}
		if len(r.Phases) != 2 || r.Phases[1].Phase != PhaseEcho {
			t.Errorf("ping %s phases = %v, want resolve and echo", tc.target, r.Phases)
		}
	}
	// A family mismatch is a failure, not a silent fallback.
	m := module(t, "prober: icmp\nip_protocol: ip6\n")
	if r := p.Probe(t.Context(), "m", m, "127.0.0.1"); r.Success {
		t.Errorf("ping 127.0.0.1 with ip_protocol ip6 succeeded")
	}
	// ICMP that cannot work here fails with the reason, not a silent 0.
	p = &Prober{ICMPErr: ErrICMPUnavailable}
	if r := p.Probe(t.Context(), "m", module(t, "prober: icmp\n"), "127.0.0.1"); r.Success || !errors.Is(r.Err, ErrICMPUnavailable) {
		t.Errorf("probe with ICMP unavailable: %v", r.Err)
	}
}
