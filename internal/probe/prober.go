package probe

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"time"
)

// Phase names reported in synguard_probe_phase_duration_seconds.
const (
	PhaseResolve    = "resolve"
	PhaseConnect    = "connect"
	PhaseTLS        = "tls"
	PhaseBanner     = "banner"
	PhaseDialogue   = "dialogue"
	PhaseProcessing = "processing" // http: request written to first response byte
	PhaseTransfer   = "transfer"   // http: first byte to end of body
	PhaseEcho       = "echo"       // icmp: echo request to reply
)

// PhaseDuration is the time one phase of a probe took.
type PhaseDuration struct {
	Phase    string
	Duration time.Duration
}

// Result is the outcome of one probe.
type Result struct {
	Module, Target string
	// Start is when the probe began.
	Start time.Time
	// Duration is how long the whole probe took.
	Duration time.Duration
	// Success is true when every check passed within the timeout.
	Success bool
	// Err says why the probe failed; nil on success.
	Err error
	// Phases are the phases the probe went through, in order.
	Phases []PhaseDuration
	// CertExpiry is the earliest NotAfter of the server's certificate chain,
	// zero when the probe used no TLS.
	CertExpiry time.Time
	// ChainExpiry is the earliest NotAfter of the last chain the server's
	// certificate was verified along; zero when none was (no TLS, or
	// insecure_skip_verify).
	ChainExpiry time.Time
	// PeerCert is the certificate the server presented last (the leaf),
	// nil without TLS.
	PeerCert *x509.Certificate
	// IP is the address the probe went to; zero when resolving failed.
	IP netip.Addr
	// TLSVersion is the TLS version of the last handshake (tls.VersionTLS13),
	// 0 without TLS.
	TLSVersion uint16
	// RegexFailed says the probe failed because a reply or the body did not
	// match what the module expects.
	RegexFailed bool
	// HTTP is what an http probe saw of the last response; nil for the
	// other probers and when no response came.
	HTTP *HTTPInfo
	// ICMP is what an icmp probe measured beyond the echo; nil for the
	// other probers.
	ICMP *ICMPInfo
}

// ICMPInfo is what an icmp probe measured beside the round trip.
type ICMPInfo struct {
	// Setup is the time from the resolved address to the request sent.
	Setup time.Duration
	// HopLimit is the reply's TTL (IPv4) or hop limit (IPv6), 0 without
	// a reply.
	HopLimit int
}

// HTTPInfo is what an http probe saw of the final response.
type HTTPInfo struct {
	StatusCode int
	// Version is the protocol version, 1.1 or 2.
	Version float64
	// Redirects is how many redirects were followed.
	Redirects int
	// ContentLength is the Content-Length header's value, -1 when absent.
	ContentLength int64
	// BodyLength is how many bytes of body were read (at most 1 MiB).
	BodyLength int64
	// SSL says the final response came over TLS.
	SSL bool
}

// trace records phase durations as a probe moves along.
type trace struct {
	last        time.Time
	phases      []PhaseDuration
	expiry      time.Time
	chainExpiry time.Time
	peerCert    *x509.Certificate
	ip          netip.Addr
	tlsVersion  uint16
	regexFailed bool
	http        *HTTPInfo
	icmp        *ICMPInfo
}

func newTrace(start time.Time) *trace { return &trace{last: start} }

// mark ends the current phase, naming it.
func (t *trace) mark(phase string) {
	now := time.Now()
	t.add(phase, now.Sub(t.last))
	t.last = now
}

func (t *trace) add(phase string, d time.Duration) {
	for i := range t.phases {
		if t.phases[i].Phase == phase {
			t.phases[i].Duration += d
			return
		}
	}
	t.phases = append(t.phases, PhaseDuration{phase, d})
}

func (t *trace) tlsState(st tls.ConnectionState) {
	if e := earliestExpiry(st.PeerCertificates); !e.IsZero() && (t.expiry.IsZero() || e.Before(t.expiry)) {
		t.expiry = e
	}
	t.tlsVersion = st.Version
	if len(st.PeerCertificates) > 0 {
		t.peerCert = st.PeerCertificates[0]
	}
	if n := len(st.VerifiedChains); n > 0 {
		t.chainExpiry = earliestExpiry(st.VerifiedChains[n-1])
	}
}

func earliestExpiry(certs []*x509.Certificate) time.Time {
	var e time.Time
	for _, c := range certs {
		if e.IsZero() || c.NotAfter.Before(e) {
			e = c.NotAfter
		}
	}
	return e
}

// Prober runs single probes. It holds what every probe shares: how ICMP
// sockets are opened and where failures are logged.
type Prober struct {
	// ICMPPrivileged selects raw ICMP sockets (CAP_NET_RAW) over unprivileged
	// ping sockets; see DetectICMP.
	ICMPPrivileged bool
	// ICMPErr, when set, is why ICMP cannot work here; icmp probes fail with it.
	ICMPErr error
	// Logger gets each failure's reason at debug level.
	Logger *slog.Logger
}

// Probe runs one probe of target with module m, bounded by m.Timeout and ctx.
// It never returns before the probe's own work has stopped.
func (p *Prober) Probe(ctx context.Context, moduleName string, m *Module, target string) Result {
	start := time.Now()
	if p.Logger != nil {
		p.Logger.Debug("beginning probe", "module", moduleName, "prober", m.Prober, "target", target, "timeout", m.Timeout)
	}
	ctx, cancel := context.WithTimeout(ctx, m.Timeout.Std())
	defer cancel()
	tr := newTrace(start)
	var err error
	switch pr := lookup(m.Prober); {
	case pr == nil:
		err = fmt.Errorf("unknown prober %q", m.Prober)
	case pr.lineBased():
		err = p.probeDialogue(ctx, m, target, tr)
	default:
		err = pr.run(p, ctx, m, target, tr)
	}
	if err != nil && (ctx.Err() != nil || errors.Is(err, os.ErrDeadlineExceeded)) && !errors.Is(err, context.DeadlineExceeded) {
		// Name the timeout: "use of closed connection" alone hides it.
		err = fmt.Errorf("%w after %s: %v", context.DeadlineExceeded, m.Timeout, err)
	}
	r := Result{
		Module: moduleName, Target: target, Start: start, Duration: time.Since(start),
		Success: err == nil, Err: err, Phases: tr.phases, CertExpiry: tr.expiry, ChainExpiry: tr.chainExpiry,
		PeerCert: tr.peerCert, IP: tr.ip, TLSVersion: tr.tlsVersion, RegexFailed: tr.regexFailed, HTTP: tr.http, ICMP: tr.icmp,
	}
	if p.Logger != nil {
		if r.IP.IsValid() {
			p.Logger.Debug("resolved target address", "module", moduleName, "target", target, "ip", r.IP)
		}
		for _, ph := range r.Phases {
			p.Logger.Debug("phase done", "module", moduleName, "target", target, "phase", ph.Phase, "duration", ph.Duration)
		}
		if err != nil {
			p.Logger.Debug("probe failed", "module", moduleName, "target", target, "duration", r.Duration, "err", err)
		} else {
			p.Logger.Debug("probe succeeded", "module", moduleName, "target", target, "duration", r.Duration)
		}
	}
	return r
}

// resolve looks host up in the family the module asks for; with no family
// it takes IPv4 when there is one.
func resolve(ctx context.Context, host, ipProtocol string) (netip.Addr, error) {
	if a, err := netip.ParseAddr(host); err == nil {
		a = a.Unmap()
		if (ipProtocol == "ip4" && !a.Is4()) || (ipProtocol == "ip6" && !a.Is6()) {
			return netip.Addr{}, fmt.Errorf("address %s is not %s", a, ipProtocol)
		}
		return a, nil
	}
	network := "ip"
	if ipProtocol != "" {
		network = ipProtocol
	}
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, network, host)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("resolve %s: %w", host, err)
	}
	for _, a := range addrs {
		if a.Unmap().Is4() {
			return a.Unmap(), nil
		}
	}
	if len(addrs) == 0 {
		return netip.Addr{}, fmt.Errorf("resolve %s: no %s address", host, network)
	}
	return addrs[0], nil
}

// tlsConfigFor clones the module's TLS config for host.
func tlsConfigFor(m *Module, host string) *tls.Config {
	c := m.tls
	if c == nil {
		c = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	c = c.Clone()
	if c.ServerName == "" {
		c.ServerName = host
	}
	return c
}
