package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/synguard/synguard/internal/blockstore"
	"github.com/synguard/synguard/internal/daemontest"
	"github.com/synguard/synguard/internal/firewalld"
	"github.com/synguard/synguard/internal/lab"
)

// labConfig writes a responder config for the lab in the given mode.
func labConfig(t *testing.T, ns, mode, extra string) (path, state string) {
	t.Helper()
	dir := t.TempDir()
	path = filepath.Join(dir, "responder.yml")
	state = filepath.Join(dir, "state", "state.json")
	hook, api := tokenFiles(t, dir, extra)
	cfg := fmt.Sprintf(`state_file: %s
webhook:
%[5]s%[6]sfirewall:
  backend: firewalld
  conntrack_netns: %[3]s
  reconcile_interval: 1h
  firewalld:
    mode: %[2]s
    allow_reload: true
%[4]s`, state, mode, "/run/netns/"+ns, extra, hook, api)
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, state
}

// testLab is the real firewalld of test/lab/firewalld.sh with an attacker.
type testLab struct {
	*lab.Lab
	t *testing.T
}

func startLab(t *testing.T) *testLab {
	return &testLab{lab.Start(t, "sgr", "../../test/lab/firewalld.sh"), t}
}

// listed returns what firewalld itself holds for the responder, read over
// its own D-Bus connection.
func (l *testLab) listed(mode string) []string {
	l.t.Helper()
	conn, err := firewalld.Connect(l.BusAddr)
	if err != nil {
		l.t.Fatal(err)
	}
	defer conn.Close()
	c, err := firewalld.New(conn, firewalld.Config{Mode: firewalld.Mode(mode)}, slog.New(slog.DiscardHandler))
	if err != nil {
		l.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ps, err := c.List(ctx)
	if err != nil {
		return []string{"error: " + err.Error()}
	}
	var out []string
	for _, p := range ps {
		out = append(out, p.String())
	}
	slices.Sort(out)
	return out
}

func (l *testLab) waitListed(mode string, want []string, within time.Duration) {
	l.t.Helper()
	slices.Sort(want)
	deadline := time.Now().Add(within)
	for {
		got := l.listed(mode)
		if slices.Equal(got, want) {
			return
		}
		if time.Now().After(deadline) {
			l.t.Fatalf("firewalld holds %v, want %v", got, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestRealFirewalld runs the responder against a real firewalld in both
// modes: blocks really drop new and established TCP from the blocked ranges
// only; duplicates change nothing; every unexpired block comes back after
// --reload, --complete-reload and a SIGKILL and restart of firewalld; and a
// manual unblock or an expiry after a crash really lets the range in again,
// although the crash left its kernel rules behind.
func TestRealFirewalld(t *testing.T) {
	for _, mode := range []string{"ipset", "zone"} {
		t.Run(mode, func(t *testing.T) {
			l := startLab(t)
			cfg, _ := labConfig(t, l.NS, mode, "")
			r := startResponder(t, "--dbus.address="+l.BusAddr, "--config.file="+cfg, "--web.disable-exporter-metrics")
			waitFor(t, "backend_up", func() bool {
				return metricLine(r.metrics(t), "synguard_responder_backend_up{backend=\"firewalld\",mode=\""+mode+"\"} 1")
			})

			est, err := l.Dial(lab.Attacker4, 2*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer est.Close()
			if err := lab.Echo(est, 2*time.Second); err != nil {
				t.Fatal(err)
			}
			blocks := notification("firing", block("198.51.100.32/27"), block("2001:db8:5:1::/64"))
			if code, body := r.post(t, blocks); code != 200 || !strings.Contains(body, `"blocked":2`) {
				t.Fatalf("block: %d %s", code, body)
			}
			want := []string{"198.51.100.32/27", "2001:db8:5:1::/64"}
			l.waitListed(mode, want, 10*time.Second)
			for _, a := range []netip.Addr{lab.Attacker4, lab.Attacker6} {
				if err := l.WaitBlocked(a, 5*time.Second); err != nil {
					t.Fatalf("after the block, %v: %v", a, err)
				}
			}
			for _, a := range []netip.Addr{lab.Control4, lab.Control6} {
				if err := l.Reach(a); err != nil {
					t.Fatalf("control %v blocked: %v", a, err)
				}
			}
			if err := lab.Echo(est, 2*time.Second); err == nil || !lab.IsTimeout(err) {
				t.Fatalf("established connection from the blocked /27 not dropped: %v", err)
			}

			// An Alertmanager HA pair: the same notification twice more.
			for range 2 {
				if code, body := r.post(t, blocks); code != 200 || !strings.Contains(body, `"duplicates":2`) {
					t.Fatalf("duplicate: %d %s", code, body)
				}
			}
			l.waitListed(mode, want, time.Second)

			for _, ev := range []string{"fw_reload", "fw_complete_reload", "fw_crash_restart"} {
				l.Fw(ev)
				l.waitListed(mode, want, 20*time.Second)
				for _, a := range []netip.Addr{lab.Attacker4, lab.Attacker6} {
					if err := l.WaitBlocked(a, 5*time.Second); err != nil {
						t.Fatalf("after %s, %v: %v", ev, a, err)
					}
				}
				if err := l.WaitReach(lab.Control4, 5*time.Second); err != nil {
					t.Fatalf("after %s, control: %v", ev, err)
				}
			}
			m := r.metrics(t)
			if metricLine(m, "synguard_responder_reconcile_repairs_total 0") {
				t.Fatal("restores not counted as repairs")
			}

			// Manual unblock after a crash: the stale kernel rules must go.
			l.Fw("fw_crash_restart")
			l.waitListed(mode, want, 20*time.Second)
			if code, body := r.change(t, http.MethodDelete, "/api/v1/blocks/198.51.100.32/27", ""); code != 200 {
				t.Fatalf("unblock: %d %s", code, body)
			}
			// The unblock may land while the responder is still restoring
			// after the crash (a Sync, then another for the restart's own
			// reload): the lift must survive both (issue 12, finding 1; the
			// zone-mode failures this once met). 30 s covers a loaded
			// machine's firewalld restart and reload.
			if err := l.WaitReach(lab.Attacker4, 30*time.Second); err != nil {
				t.Fatalf("after a crash and an unblock, %v still cannot connect: %v", lab.Attacker4, err)
			}
			if err := l.WaitBlocked(lab.Attacker6, 2*time.Second); err != nil {
				t.Fatalf("the other block went too: %v", err)
			}

			// Expiry after a crash. The block outlives firewalld's restart
			// (3.4 s once on a loaded machine, when a 6 s block had expired
			// before the listing could show it restored), then must go.
			if code, body := r.change(t, http.MethodPost, "/api/v1/blocks", `{"prefix":"198.51.100.33/27","duration":"20s","reason":"lab"}`); code != 201 {
				t.Fatalf("manual block: %d %s", code, body)
			}
			if err := l.WaitBlocked(lab.Attacker4, 5*time.Second); err != nil {
				t.Fatalf("manual block: %v", err)
			}
			l.Fw("fw_crash_restart")
			l.waitListed(mode, want, 20*time.Second)
			if err := l.WaitReach(lab.Attacker4, 30*time.Second); err != nil {
				t.Fatalf("after a crash and the expiry, %v still cannot connect: %v", lab.Attacker4, err)
			}
			l.waitListed(mode, []string{"2001:db8:5:1::/64"}, 5*time.Second)

			// firewalld crashes while the responder is down: at its start the
			// responder restores the block, and an unblock then really lets
			// the range in, the crash's stale kernel rules notwithstanding.
			r.Stop()
			l.Fw("fw_crash_restart")
			r = startResponder(t, "--dbus.address="+l.BusAddr, "--config.file="+cfg, "--web.disable-exporter-metrics")
			l.waitListed(mode, []string{"2001:db8:5:1::/64"}, 20*time.Second)
			if code, body := r.change(t, http.MethodDelete, "/api/v1/blocks/2001:db8:5:1::/64", ""); code != 200 {
				t.Fatalf("unblock after a crash while down: %d %s", code, body)
			}
			if err := l.WaitReach(lab.Attacker6, 10*time.Second); err != nil {
				t.Fatalf("after a crash while the responder was down and an unblock, %v still cannot connect: %v", lab.Attacker6, err)
			}
			l.waitListed(mode, nil, 5*time.Second)
		})
	}
}

// process is the built synguard-responder binary, for crash tests.
type process struct{ *daemontest.Process }

// startBinary builds and runs the responder binary with args until the
// test ends.
func startBinary(t *testing.T, bin string, args ...string) *process {
	t.Helper()
	return &process{daemontest.Run(t, bin, args...)}
}

// kill SIGKILLs it: a crash.
func (p *process) kill() { p.Kill() }

func (p *process) post(path, contentType, body string) (int, error) {
	req, err := http.NewRequest(http.MethodPost, p.URL+path, strings.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", contentType)
	tok := apiToken
	if path == "/webhook" {
		tok = hookToken
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}

// TestResponderCrashMidBatch SIGKILLs the responder binary while
// notifications arrive: after a restart every acknowledged block is in
// firewalld (nothing lost); after another SIGKILL, with the blocks expiring
// while it is down, a restart lifts every expired one and keeps the rest.
func TestResponderCrashMidBatch(t *testing.T) {
	l := startLab(t)
	const mode = "ipset"
	cfg, state := labConfig(t, l.NS, mode, `policy:
  block_duration:
    base: 15s
    max: 15s
  rate_limit:
    blocks_per_minute: 6000
    burst: 1000
`)
	args := []string{"--dbus.address=" + l.BusAddr, "--config.file=" + cfg, "--web.disable-exporter-metrics"}
	bin := daemontest.Build(t, ".", "synguard-responder")
	p := startBinary(t, bin, args...)

	// Long manual blocks that must survive everything.
	var long []string
	for i := range 10 {
		pf := fmt.Sprintf("203.0.113.%d/32", i*8)
		code, err := p.post("/api/v1/blocks", "application/json", fmt.Sprintf(`{"prefix":%q,"duration":"1h"}`, pf))
		if err != nil || code != 201 {
			t.Fatalf("manual block %s: %d %v", pf, code, err)
		}
		long = append(long, pf)
	}

	// 160 short blocks in notifications of 8 from 4 senders; SIGKILL
	// after the 8th acknowledgement.
	var mu sync.Mutex
	var acked []string
	killed := make(chan struct{})
	var once sync.Once
	var wg sync.WaitGroup
	for s := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := s; n < 20; n += 4 {
				var labels []map[string]string
				var ps []string
				for i := range 8 {
					pf := fmt.Sprintf("198.18.%d.%d/27", n, i*32)
					labels = append(labels, block(pf))
					ps = append(ps, pf)
				}
				code, err := p.post("/webhook", "application/json", notification("firing", labels...))
				if err != nil || code != 200 {
					return
				}
				mu.Lock()
				acked = append(acked, ps...)
				if len(acked) >= 64 {
					once.Do(func() { p.kill(); close(killed) })
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	once.Do(func() { p.kill(); close(killed) })
	<-killed
	mu.Lock()
	ackedNow := slices.Clone(acked)
	mu.Unlock()
	if len(ackedNow) < 64 {
		t.Fatalf("only %d blocks acknowledged before the kill", len(ackedNow))
	}

	p = startBinary(t, bin, args...)
	// Everything acknowledged is in firewalld again (plus, possibly,
	// blocks saved but not acknowledged when the kill came).
	deadline := time.Now().Add(15 * time.Second)
	for {
		got := l.listed(mode)
		var missing []string
		for _, pf := range append(slices.Clone(ackedNow), long...) {
			if !slices.Contains(got, pf) {
				missing = append(missing, pf)
			}
		}
		if len(missing) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d acknowledged blocks missing from firewalld after the restart, e.g. %v; firewalld holds %d: %v",
				len(missing), len(ackedNow)+len(long), missing[:min(5, len(missing))], len(got), got[:min(5, len(got))])
		}
		time.Sleep(200 * time.Millisecond)
	}

	// Down while the short blocks expire; firewalld keeps them meanwhile.
	p.kill()
	time.Sleep(16 * time.Second)
	if got := l.listed(mode); len(got) <= len(long) {
		t.Fatalf("with the responder down firewalld should still hold the expired blocks, holds %d", len(got))
	}
	startBinary(t, bin, args...)
	l.waitListed(mode, long, 20*time.Second)

	// The state file remembers every acknowledged block as expired.
	st, err := openStateCopy(t, state)
	if err != nil {
		t.Fatal(err)
	}
	for _, pf := range ackedNow {
		b, ok := st[pf]
		if !ok || b.Active || b.LiftReason != blockstore.LiftExpired || b.Offences != 1 {
			t.Fatalf("state of %s: %+v (present %v)", pf, b, ok)
		}
	}
}

// openStateCopy reads the state (snapshot and journal) without taking its
// lock (the responder holds it).
func openStateCopy(t *testing.T, path string) (map[string]blockstore.Block, error) {
	blks, err := blockstore.ReadBlocks(path)
	if err != nil {
		return nil, err
	}
	out := map[string]blockstore.Block{}
	for _, blk := range blks {
		out[blk.Prefix.String()] = blk
	}
	return out, nil
}
