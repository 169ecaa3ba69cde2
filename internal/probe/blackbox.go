package probe

import (
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"hash/fnv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// blackbox_exporter's /probe metric names, which synguard's /probe answers
// with so that blackbox users' alerts (probe_success == 0), dashboards and
// recording rules apply unchanged.
const (
	BlackboxSuccess        = "probe_success"
	BlackboxDuration       = "probe_duration_seconds"
	BlackboxDNSLookup      = "probe_dns_lookup_time_seconds"
	BlackboxIPProtocol     = "probe_ip_protocol"
	BlackboxIPAddrHash     = "probe_ip_addr_hash"
	BlackboxCertExpiry     = "probe_ssl_earliest_cert_expiry"
	BlackboxChainExpiry    = "probe_ssl_last_chain_expiry_timestamp_seconds"
	BlackboxTLSVersion     = "probe_tls_version_info"
	BlackboxChainInfo      = "probe_ssl_last_chain_info"
	BlackboxRegexFailed    = "probe_failed_due_to_regex"
	BlackboxHTTPDuration   = "probe_http_duration_seconds"
	BlackboxHTTPStatus     = "probe_http_status_code"
	BlackboxHTTPLength     = "probe_http_content_length"
	BlackboxHTTPBodyLength = "probe_http_uncompressed_body_length"
	BlackboxHTTPRedirects  = "probe_http_redirects"
	BlackboxHTTPSSL        = "probe_http_ssl"
	BlackboxHTTPVersion    = "probe_http_version"
	BlackboxICMPDuration   = "probe_icmp_duration_seconds"
	BlackboxICMPHopLimit   = "probe_icmp_reply_hop_limit"
)

// httpPhases are the phases blackbox reports for every http probe, zero
// when the probe did not reach them (no TLS: tls is 0).
var httpPhases = []string{PhaseResolve, PhaseConnect, PhaseTLS, PhaseProcessing, PhaseTransfer}

// registerBlackbox registers on reg the metrics blackbox_exporter reports
// for a probe of m's prober with result res, as far as synguard measures
// them (docs: README, "Probes").
func registerBlackbox(reg *prometheus.Registry, m *Module, res Result) {
	gauge := func(name, help string, v float64) {
		g := prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help})
		g.Set(v)
		reg.MustRegister(g)
	}
	phases := map[string]time.Duration{}
	for _, p := range res.Phases {
		phases[p.Phase] = p.Duration
	}
	gauge(BlackboxSuccess, "Displays whether or not the probe was a success", b2f(res.Success))
	gauge(BlackboxDuration, "Returns how long the probe took to complete in seconds", res.Duration.Seconds())
	if d, ok := phases[PhaseResolve]; ok {
		gauge(BlackboxDNSLookup, "Returns the time taken for probe dns lookup in seconds", d.Seconds())
	}
	if res.IP.IsValid() {
		v := 4.0
		if res.IP.Is6() {
			v = 6
		}
		gauge(BlackboxIPProtocol, "Specifies whether probe ip protocol is IP4 or IP6", v)
		h := fnv.New32a()
		h.Write(res.IP.AsSlice())
		gauge(BlackboxIPAddrHash, "Specifies the hash of IP address. It's useful to detect if the IP address changes.", float64(h.Sum32()))
	}
	if !res.CertExpiry.IsZero() {
		gauge(BlackboxCertExpiry, "Returns last SSL chain expiry in unixtime", float64(res.CertExpiry.Unix()))
	}
	if !res.ChainExpiry.IsZero() {
		gauge(BlackboxChainExpiry, "Returns last SSL chain expiry in timestamp", float64(res.ChainExpiry.Unix()))
	}
	if c := res.PeerCert; c != nil {
		v := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: BlackboxChainInfo, Help: "Contains SSL leaf certificate information"},
			[]string{"fingerprint_sha256", "subject", "issuer", "subjectalternative"})
		sum := sha256.Sum256(c.Raw)
		v.WithLabelValues(hex.EncodeToString(sum[:]), c.Subject.String(), c.Issuer.String(), strings.Join(c.DNSNames, ",")).Set(1)
		reg.MustRegister(v)
	}
	if res.TLSVersion != 0 {
		v := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: BlackboxTLSVersion, Help: "Returns the TLS version used or NaN when unknown"}, []string{"version"})
		v.WithLabelValues(tls.VersionName(res.TLSVersion)).Set(1)
		reg.MustRegister(v)
	}
	switch {
	case m.Prober == ProberHTTP:
		d := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: BlackboxHTTPDuration, Help: "Duration of http request by phase, summed over all redirects"}, []string{"phase"})
		for _, p := range httpPhases {
			d.WithLabelValues(p).Set(phases[p].Seconds())
		}
		reg.MustRegister(d)
		h := res.HTTP
		if h == nil {
			h = &HTTPInfo{}
		}
		gauge(BlackboxHTTPStatus, "Response HTTP status code", float64(h.StatusCode))
		gauge(BlackboxHTTPLength, "Length of http content response", float64(h.ContentLength))
		gauge(BlackboxHTTPBodyLength, "Length of uncompressed response body", float64(h.BodyLength))
		gauge(BlackboxHTTPRedirects, "The number of redirects", float64(h.Redirects))
		gauge(BlackboxHTTPSSL, "Indicates if SSL was used for the final redirect", b2f(h.SSL))
		gauge(BlackboxHTTPVersion, "Returns the version of HTTP of the probe response", h.Version)
		gauge(BlackboxRegexFailed, "Indicates if probe failed due to regex", b2f(res.RegexFailed))
	case m.Prober == ProberICMP:
		d := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: BlackboxICMPDuration, Help: "Duration of icmp request by phase"}, []string{"phase"})
		// All three phases, zero where the probe did not get that far, as
		// blackbox reports them.
		d.WithLabelValues("resolve").Set(phases[PhaseResolve].Seconds())
		d.WithLabelValues("rtt").Set(phases[PhaseEcho].Seconds())
		var setup time.Duration
		if res.ICMP != nil {
			setup = res.ICMP.Setup
			if res.ICMP.HopLimit > 0 {
				gauge(BlackboxICMPHopLimit, "Replied packet hop limit (TTL for ipv4)", float64(res.ICMP.HopLimit))
			}
		}
		d.WithLabelValues("setup").Set(setup.Seconds())
		reg.MustRegister(d)
	default: // tcp and the line-based protocols: blackbox's tcp prober
		gauge(BlackboxRegexFailed, "Indicates if probe failed due to regex", b2f(res.RegexFailed))
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
