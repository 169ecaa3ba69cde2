package e2e

import (
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/synguard/synguard/internal/lab"
)

// The attacking /27s of the fleet scenario's phases (spoofed, inside the
// loop lab's 198.51.100.0/24, which only the attacker routes).
const (
	pFleet = "198.51.100.32/27"
	pHost  = "198.51.100.64/27"
	pDup   = "198.51.100.128/27"
	pKill  = "198.51.100.160/27"
)

// The responders' series the fleet scenario counts.
const (
	okSeries    = `synguard_responder_actions_total{action="block",result="ok"}`
	dupSeries   = `synguard_responder_actions_total{action="block",result="duplicate"}`
	otherSeries = `synguard_responder_refused_total{reason="other_host"}`
)

// envInt is the integer in environment variable name, or def.
func envInt(t *testing.T, name string, def int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		t.Fatalf("%s=%q: %v", name, v, err)
	}
	return n
}

// TestFleet is the fleet scenario (test/lab/fleet.sh, configs derived from
// deploy/fleet/, docs/fleet.md): three victims, each with its own private
// firewalld, services, exporter and responder; one Prometheus; two
// Alertmanagers clustered over their real gossip; an attacker namespace.
// Every exporter and responder listens on its victim's own address and
// serves TLS requiring a client certificate with an allowed SAN
// (deploy/fleet/*-web.yml); Prometheus scrapes and each Alertmanager posts
// its webhooks with a client certificate of its own and the bearer token.
//
//  0. tls: from where Prometheus and the Alertmanagers dial, a scrape or a
//     webhook without a client certificate, or with one the CA signed for
//     a SAN no web config allows, gets no HTTP answer; the exporter lets in
//     Prometheus only, the responder Prometheus and the Alertmanagers (and
//     their webhook the token too); plain http gets no metrics;
//  1. fleet: one /27 floods hosts 1 and 2: blocked on every host by the
//     fleet rule, exactly one new block and one firewalld entry each;
//  2. host: a /27 floods the last host only: blocked there (host rule) and
//     nowhere else; the other hosts got the alert and refused it
//     (other_host); no fleet alert fired. Then the same /27 floods hosts 1
//     and 2: the fleet alert blocks it there, and on the last host it is
//     the same block (a duplicate);
//  3. duplicates: the Alertmanagers' gossip cut, so both notify: every
//     responder counts duplicates and applies the block exactly once;
//  4. am-killed: the Alertmanager that notifies first SIGKILLed (by its
//     PID): a new /27 is still blocked on every host.
//
// The 10 s target for the fleet block is reported, not asserted: speed
// targets belong to benchmarks (CONTRIBUTING.md), and CI shares its cores.
// FLEET_HOSTS (3, at least 3) and FLEET_RATE (300 SYN/s per flood) change
// the scenario's size.
func TestFleet(t *testing.T) {
	if testing.Short() {
		t.Skip("the fleet scenario takes about two minutes: not with -short")
	}
	hosts, rate := envInt(t, "FLEET_HOSTS", 3), envInt(t, "FLEET_RATE", 300)
	if hosts < 3 {
		t.Fatalf("FLEET_HOSTS=%d: the scenario needs at least 3 hosts", hosts)
	}
	f := lab.StartFleet(t, "sgz", hosts)
	threshold := f.Threshold()
	last := hosts

	// newBlocks checks each host applied want(i) new blocks since before.
	newBlocks := func(phase string, before []int, want func(host int) int) {
		t.Helper()
		after := f.Metrics(okSeries)
		for i := range after {
			if got := after[i] - before[i]; got != want(i+1) {
				t.Errorf("%s: host %d applied %d new blocks, want %d", phase, i+1, got, want(i+1))
			}
		}
		t.Logf("%s: new blocks per responder %v -> %v", phase, before, after)
	}
	listedOnce := func(phase, prefix string, hostsListing ...int) {
		t.Helper()
		for _, i := range hostsListing {
			if n := f.Listed(i, prefix); n != 1 {
				t.Errorf("%s: firewalld on host %d lists %s %d times, want 1", phase, i, prefix, n)
			}
		}
	}
	all := make([]int, hosts)
	for i := range all {
		all[i] = i + 1
	}
	one := func(int) int { return 1 }

	{
		t.Log("== 0 tls")
		type check struct {
			what string
			req  lab.Request
			want int
		}
		const webhookBody = "{}" // reaches the handler, which refuses it: 400
		var checks []check
		for i := 1; i <= hosts; i++ {
			exp := func(client string) lab.Request {
				return lab.Request{Host: i, Port: lab.ExporterPort, Path: "/metrics", Client: client}
			}
			hook := func(client, token string) lab.Request {
				return lab.Request{Host: i, Port: lab.ResponderPort, Path: "/webhook", Client: client, Token: token, Body: webhookBody}
			}
			checks = append(checks,
				check{"exporter scraped by Prometheus", exp(lab.ClientPrometheus), 200},
				check{"responder scraped by Prometheus", lab.Request{Host: i, Port: lab.ResponderPort, Path: "/metrics", Client: lab.ClientPrometheus}, 200},
				check{"exporter scraped without a client certificate", exp("none"), 0},
				check{"exporter scraped with a certificate for a SAN not allowed", exp(lab.ClientIntruder), 0},
				check{"exporter scraped by an Alertmanager (allowed on the responder only)", exp(lab.ClientAM(1)), 0},
				check{"exporter scraped over plain http", exp("plain"), 400},
				check{"webhook from am1 with the token (to the handler: a bad body)", hook(lab.ClientAM(1), "-"), 400},
				check{"webhook from am2 with the token (to the handler: a bad body)", hook(lab.ClientAM(2), "-"), 400},
				check{"webhook from am1 without the token", hook(lab.ClientAM(1), ""), 401},
				check{"webhook with the token, without a client certificate", hook("none", "-"), 0},
				check{"webhook with the token, a certificate for a SAN not allowed", hook(lab.ClientIntruder, "-"), 0},
			)
		}
		for _, c := range checks {
			if got := f.Code(c.req); got != c.want {
				t.Errorf("host %d: %s: HTTP %d, want %d (0: TLS handshake refused)", c.req.Host, c.what, got, c.want)
			}
		}
		t.Logf("%d TLS checks on %d hosts", len(checks), hosts)
	}

	{
		t.Log("== 1 fleet")
		ok0 := f.Metrics(okSeries)
		ft, err := f.FloodUntilBlocked(pFleet, 60*time.Second, rate, threshold, 1, 2)
		f.StopFloods()
		if err != nil {
			t.Fatal(err)
		}
		if ft.Cross == 0 {
			t.Errorf("blocked everywhere, but ss never showed %d sockets on both flooded hosts", threshold)
		} else {
			target := "met"
			if ft.Block-ft.Cross >= 10000 {
				target = "MISSED"
			}
			t.Logf("threshold (%d sockets) crossed on the second host -> blocked in the last host's kernel: %d ms (target < 10 s: %s); flood start -> blocked everywhere: %d ms",
				threshold, ft.Block-ft.Cross, target, ft.Block-ft.Start)
			// Where the time went: Prometheus up to the alert, then
			// Alertmanager, the webhooks, the responders and firewalld.
			if active, ok := f.AlertActive("SynguardFleetPrefixFlooding", pFleet); ok {
				t.Logf("of which threshold -> alert active in Prometheus %d ms, alert -> block on the last host %d ms",
					active-ft.Cross, ft.Block-active)
			}
		}
		listedOnce("1 fleet", pFleet, all...)
		newBlocks("1 fleet", ok0, one)
	}

	{
		t.Log("== 2 host")
		other0 := f.Metrics(otherSeries)
		f.Must(fmt.Sprintf("loop_flood_start %d %d %q 2>/dev/null", last, rate, pHost))
		t0 := time.Now()
		lab.WaitFor(t, fmt.Sprintf("%s blocked on host %d (host rule)", pHost, last), 90*time.Second, func() (bool, string) {
			in := f.KernelBlocked(last, pHost)
			return in, fmt.Sprintf("in its kernel drop set: %v", in)
		})
		t.Logf("host block %s after the flood began", time.Since(t0).Round(100*time.Millisecond))
		f.Must(fmt.Sprintf("loop_flood_stop %d", last))
		// Every other responder got the same notification and refused it.
		lab.WaitFor(t, "the other hosts refuse the host alert (other_host)", 30*time.Second, func() (bool, string) {
			now := f.Metrics(otherSeries)
			for i := 0; i < last-1; i++ {
				if now[i] <= other0[i] {
					return false, fmt.Sprintf("other_host refusals %v -> %v", other0, now)
				}
			}
			return true, fmt.Sprintf("%v -> %v", other0, now)
		})
		for i := 1; i < last; i++ {
			if f.KernelBlocked(i, pHost) {
				t.Errorf("%s blocked on host %d", pHost, i)
			}
			if n := f.Listed(i, pHost); n != 0 {
				t.Errorf("firewalld on host %d lists %s", i, pHost)
			}
		}
		listedOnce("2 host", pHost, last)
		if f.PromTrue(fmt.Sprintf(`max_over_time(ALERTS{alertname="SynguardFleetPrefixFlooding",prefix=%q}[10m])`, pHost)) {
			t.Errorf("a fleet alert fired for %s", pHost)
		}

		// The same /27 now floods hosts 1 and 2: the fleet alert blocks it
		// there; on the last host, where the host alert blocked it, it is
		// the same block.
		ok0, dup0 := f.Metrics(okSeries), f.Metrics(dupSeries)
		_, err := f.FloodUntilBlocked(pHost, 60*time.Second, rate, threshold, 1, 2)
		f.StopFloods()
		if err != nil {
			t.Fatal(err)
		}
		lab.WaitFor(t, fmt.Sprintf("host %d counts the fleet alert as a duplicate of its host block", last), 20*time.Second, func() (bool, string) {
			n := f.Metric(last, dupSeries)
			return n > dup0[last-1], fmt.Sprintf("duplicates %d -> %d", dup0[last-1], n)
		})
		newBlocks("2b host+fleet", ok0, func(i int) int {
			if i == last {
				return 0
			}
			return 1
		})
		listedOnce("2b host+fleet", pHost, all...)
	}

	{
		t.Log("== 3 duplicates")
		ok0, dup0 := f.Metrics(okSeries), f.Metrics(dupSeries)
		wh1, wh2 := f.Webhooks(1), f.Webhooks(2)
		f.Must("fleet_gossip_cut")
		_, err := f.FloodUntilBlocked(pDup, 60*time.Second, rate, threshold, 1, 2)
		f.StopFloods()
		restored := false
		restore := func() {
			if !restored {
				f.Must("fleet_gossip_restore")
				restored = true
			}
		}
		defer restore()
		if err != nil {
			t.Fatal(err)
		}
		lab.WaitFor(t, "both Alertmanagers notify every responder", 40*time.Second, func() (bool, string) {
			a, b := f.Webhooks(1), f.Webhooks(2)
			return a >= wh1+hosts && b >= wh2+hosts, fmt.Sprintf("webhooks am1 %d -> %d, am2 %d -> %d", wh1, a, wh2, b)
		})
		lab.WaitFor(t, "every responder counts a duplicate", 20*time.Second, func() (bool, string) {
			now := f.Metrics(dupSeries)
			for i := range now {
				if now[i] <= dup0[i] {
					return false, fmt.Sprintf("duplicates %v -> %v", dup0, now)
				}
			}
			return true, fmt.Sprintf("duplicates %v -> %v", dup0, now)
		})
		newBlocks("3 duplicates", ok0, one)
		listedOnce("3 duplicates", pDup, all...)
		restore()
		lab.WaitFor(t, "the Alertmanagers rejoin once the gossip is back", 90*time.Second, func() (bool, string) {
			whole := f.OK("fleet_cluster_whole")
			return whole, fmt.Sprintf("one cluster of two, both ready: %v", whole)
		})
	}

	{
		t.Log("== 4 am-killed")
		first := f.Int("fleet_am_first")
		if first != 1 && first != 2 {
			t.Fatalf("cannot tell which Alertmanager notifies first (fleet_am_first: %d)", first)
		}
		survivor := 3 - first
		wh0 := f.Webhooks(survivor)
		t.Logf("SIGKILL am%d (pid %s), first in the cluster's order", first, f.Must(fmt.Sprintf("loop_pid am%d", first)))
		f.Must(fmt.Sprintf("loop_kill am%d KILL 5", first))
		if f.OK(fmt.Sprintf("loop_pid am%d", first)) {
			t.Fatalf("am%d still alive", first)
		}
		ft, err := f.FloodUntilBlocked(pKill, 90*time.Second, rate, threshold, 1, 2)
		f.StopFloods()
		if err != nil {
			t.Fatalf("with am%d dead: %v", first, err)
		}
		t.Logf("blocked on all %d hosts %d ms after the flood began (am%d alone; it waits --cluster.peer-timeout while am%d still looks alive)",
			hosts, ft.Block-ft.Start, survivor, first)
		if n := f.Webhooks(survivor); n <= wh0 {
			t.Errorf("am%d sent nothing (%d -> %d webhooks)", survivor, wh0, n)
		}
	}
}
