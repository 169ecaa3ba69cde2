package lab

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Fleet is a fleet lab (test/lab/fleet.sh): Hosts victims, each with its
// own private firewalld, services, exporter and responder; one
// Prometheus; two Alertmanagers (am1, am2) clustered over their real
// gossip; one attacker namespace that floods any victim. As deploy/fleet/
// has it, the exporters and responders listen on their victim's own
// address and serve TLS requiring a client certificate with an allowed SAN;
// Prometheus and each Alertmanager present their own.
type Fleet struct {
	*Loop
	Hosts int
}

// The fleet's client identities: the SANs deploy/fleet/*-web.yml allow, and
// one the CA signed that none allows (test/lab/fleet.sh, fleet_pki_up,
// issues them under these names).
const (
	ClientPrometheus = "prometheus.example.net"
	ClientIntruder   = "intruder.example.net"
)

// ClientAM is Alertmanager k's client identity (am1.example.net, ...).
func ClientAM(k int) string { return fmt.Sprintf("am%d.example.net", k) }

// StartFleet builds the binaries and brings up a fleet of hosts (at least
// 3) named with prefix, over TLS: fleet_up first writes the fleet's PKI
// into the state directory (labconfig pki, i.e. labpki: a certificate per
// victim for its name victimI and its management address; the clients
// above). See NewLoop for the skips and the cleanup.
func StartFleet(t testing.TB, prefix string, hosts int) *Fleet {
	t.Helper()
	f := &Fleet{Loop: NewLoop(t, prefix, LoopOptions{Fleet: true}), Hosts: hosts}
	f.Must("loop_init")
	f.Build()
	t0 := time.Now()
	f.Must(fmt.Sprintf("fleet_up %d", hosts))
	t.Logf("fleet of %d hosts up in %s", hosts, time.Since(t0).Round(time.Second))
	return f
}

// Threshold is the fleet rule's per-host threshold, read from the rule
// itself (rules/fleet.rules.yml).
func (f *Fleet) Threshold() int {
	f.t.Helper()
	n := f.Int("fleet_threshold")
	if n <= 0 {
		f.t.Fatal("cannot read the per-host threshold from rules/fleet.rules.yml")
	}
	return n
}

// KernelBlocked reports whether prefix is in victim i's kernel drop set
// (the nft rules its firewalld wrote).
func (f *Fleet) KernelBlocked(i int, prefix string) bool {
	return f.OK(fmt.Sprintf("fleet_kernel_blocked %d %q", i, prefix))
}

// Listed is how many times victim i's firewalld lists prefix among its
// drops.
func (f *Fleet) Listed(i int, prefix string) int {
	return f.Int(fmt.Sprintf("fleet_fw_count %d %q", i, prefix))
}

// Metric is the value of one series of victim i's responder, 0 when absent.
func (f *Fleet) Metric(i int, series string) int {
	return f.Int(fmt.Sprintf("fleet_resp_metric %d %q", i, series))
}

// Metrics is Metric on every host, host 1 first.
func (f *Fleet) Metrics(series string) []int {
	out := make([]int, f.Hosts)
	for i := range out {
		out[i] = f.Metric(i+1, series)
	}
	return out
}

// Webhooks is how many webhook notifications Alertmanager k has sent.
func (f *Fleet) Webhooks(k int) int { return f.Int(fmt.Sprintf("fleet_am_webhooks %d", k)) }

// FloodTimes are the moments of a fleet_flood_wait_all, in unix ms: the
// floods began, the last flooded host reached the threshold by ss (0 when
// one never did), the last host's kernel dropped the prefix.
type FloodTimes struct{ Start, Cross, Block int64 }

// FloodUntilBlocked floods prefix at each of the flooded hosts (rate SYN/s)
// and waits, at most timeout, until every host's kernel drops it, timing it
// with nft monitor (fleet_flood_wait_all). The floods go on: StopFloods.
func (f *Fleet) FloodUntilBlocked(prefix string, timeout time.Duration, rate, threshold int, flooded ...int) (FloodTimes, error) {
	hosts := make([]string, len(flooded))
	for i, h := range flooded {
		hosts[i] = strconv.Itoa(h)
	}
	out, err := f.Sh(fmt.Sprintf(`fleet_flood_wait_all %q %d %d %d %d %s && echo "$START_MS ${CROSS_MS:-0} $BLOCK_MS"`,
		prefix, int(timeout.Seconds()), rate, f.Hosts, threshold, strings.Join(hosts, " ")))
	if err != nil {
		return FloodTimes{}, fmt.Errorf("%s not blocked on all %d hosts within %s: %w", prefix, f.Hosts, timeout, err)
	}
	var ft FloodTimes
	if _, err := fmt.Sscan(out, &ft.Start, &ft.Cross, &ft.Block); err != nil {
		return FloodTimes{}, fmt.Errorf("fleet_flood_wait_all printed %q: %w", out, err)
	}
	return ft, nil
}

// StopFloods stops every host's flood (by recorded PID).
func (f *Fleet) StopFloods() {
	f.t.Helper()
	for i := 1; i <= f.Hosts; i++ {
		f.Must(fmt.Sprintf("loop_flood_stop %d", i))
	}
}

// AlertActive is when Prometheus began alert for prefix (activeAt, unix
// ms); false when no such alert is active.
func (f *Fleet) AlertActive(alert, prefix string) (int64, bool) {
	out, err := f.Sh(fmt.Sprintf("fleet_alert_active_ms %q %q", alert, prefix))
	if err != nil {
		return 0, false
	}
	ms, err := strconv.ParseInt(strings.TrimSpace(out), 10, 64)
	return ms, err == nil
}

// Port numbers of victims' exporter and responder.
const (
	ExporterPort  = 9817
	ResponderPort = 9818
)

// Request is one HTTP request a test sends from the monitoring namespace
// (where Prometheus and the Alertmanagers dial from) to a victim.
type Request struct {
	Host, Port int
	Path       string
	// Client is whose certificate is presented: a Client* name, ClientAM,
	// "none" (TLS without a certificate) or "plain" (http, no TLS).
	Client string
	// Token is the bearer token ("-": the lab's webhook token); with Body
	// the request is a POST.
	Token, Body string
}

// Code is the HTTP status req got: 0 when no HTTP answer came (the TLS
// handshake was refused).
func (f *Fleet) Code(req Request) int {
	f.t.Helper()
	out := f.Must(fmt.Sprintf("fleet_https_code %d %d %q %q %q %q",
		req.Host, req.Port, req.Path, req.Client, req.Token, req.Body))
	n, err := strconv.Atoi(strings.TrimSpace(out))
	if err != nil {
		f.t.Fatalf("fleet_https_code printed %q", out)
	}
	return n
}
