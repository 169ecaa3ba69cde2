// Command responderload drives synguard-responder's webhook as Alertmanager
// would, for test/bench/responder.sh, and watches the effect in firewalld
// over its own D-Bus connection. Subcommands:
//
//	block    send N prefixes in notifications of G alerts from C senders, and
//	         time until firewalld holds all of them: from the first
//	         notification, and from the last notification's answer (with
//	         -nft-netns read from the kernel: `nft monitor` of the set
//	         firewalld made, which costs firewalld nothing, unlike polling
//	         its list of 10,000 entries)
//	restore  run a command (firewall-cmd --reload) and time until firewalld
//	         holds N entries again
//	load     re-send notifications for already-blocked prefixes for a while:
//	         requests/s, p50/p99 latency, and whether any block was lost
//
// Each prints one line of "key=value" figures.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/synguard/synguard/internal/firewalld"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: responderload block|restore|load [flags]")
		os.Exit(2)
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	url := fs.String("url", "http://127.0.0.1:9818", "responder base URL")
	bus := fs.String("bus", os.Getenv("DBUS_SYSTEM_BUS_ADDRESS"), "firewalld's D-Bus address")
	mode := fs.String("mode", "ipset", "the responder's firewalld mode")
	n := fs.Int("n", 1000, "prefixes")
	offset := fs.Int("offset", 0, "index of the first prefix")
	group := fs.Int("group", 50, "alerts per notification")
	conc := fs.Int("c", 8, "concurrent senders")
	timeout := fs.Duration("timeout", 10*time.Minute, "give up after")
	dur := fs.Duration("duration", 10*time.Second, "load: how long")
	cmdline := fs.String("cmd", "", "restore: the shell command that drops firewalld's runtime state")
	nftNetns := fs.String("nft-netns", "", "block: read the drops from nft in this network namespace (firewalld's ipset mode)")
	nftSet := fs.String("nft-set", "inet firewalld synguard4", "block: the nft set (family table name) -nft-netns reads")
	fs.Parse(os.Args[2:])

	ps := prefixes(*offset, *n)
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	fw := newWatcher(*bus, *mode)
	fw.nftNetns, fw.nftSet = *nftNetns, *nftSet
	var err error
	switch os.Args[1] {
	case "block":
		var mon *monitor
		if *nftNetns != "" {
			if mon, err = startMonitor(ctx, *nftNetns, *nftSet, ps); err != nil {
				break
			}
		}
		err = block(ctx, *url, fw, mon, ps, *group, *conc)
	case "restore":
		err = restore(ctx, fw, *n, *cmdline)
	case "load":
		err = load(ctx, *url, fw, ps, *conc, *dur)
	default:
		err = fmt.Errorf("unknown subcommand %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "responderload:", err)
		os.Exit(1)
	}
}

// prefixes returns n distinct /29s of 198.18.0.0/15 (benchmarking space,
// carrying no traffic here) from index off.
func prefixes(off, n int) []netip.Prefix {
	out := make([]netip.Prefix, n)
	for i := range n {
		v := uint32(198)<<24 | uint32(18)<<16 | uint32(off+i)<<3
		out[i] = netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), 29)
	}
	return out
}

type alert struct {
	Status      string            `json:"status"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	StartsAt    time.Time         `json:"startsAt"`
	EndsAt      time.Time         `json:"endsAt"`
	Fingerprint string            `json:"fingerprint"`
}

// body is a notification as Alertmanager's webhook sends it.
func body(ps []netip.Prefix, seq int) []byte {
	as := make([]alert, len(ps))
	for i, p := range ps {
		as[i] = alert{Status: "firing", StartsAt: time.Now().UTC(),
			Labels:      map[string]string{"alertname": "SynFloodPrefix", "action": "block", "severity": "critical", "prefix": p.String(), "family": "ipv4"},
			Annotations: map[string]string{"summary": "SYN flood from " + p.String()},
			Fingerprint: fmt.Sprintf("%016x", seq*100000+i)}
	}
	b, _ := json.Marshal(map[string]any{
		"receiver": "responder", "status": "firing", "alerts": as,
		"groupLabels": map[string]string{"alertname": "SynFloodPrefix"}, "commonLabels": map[string]string{"alertname": "SynFloodPrefix", "action": "block"},
		"commonAnnotations": map[string]string{}, "externalURL": "http://alertmanager:9093", "version": "4",
		"groupKey": fmt.Sprintf(`{}:{alertname="SynFloodPrefix", g="%d"}`, seq), "truncatedAlerts": 0,
	})
	return b
}

var client = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}, Timeout: 60 * time.Second}

func send(url string, b []byte) (time.Duration, error) {
	t0 := time.Now()
	resp, err := client.Post(url+"/webhook", "application/json", bytes.NewReader(b))
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return 0, fmt.Errorf("webhook answered %d: %s", resp.StatusCode, msg)
	}
	return time.Since(t0), nil
}

type watcher struct {
	c *firewalld.Client
	// nftNetns, when set, is where the kernel's set is read (nftSet).
	nftNetns, nftSet string
}

func newWatcher(bus, mode string) *watcher {
	conn, err := firewalld.Connect(bus)
	if err != nil {
		fmt.Fprintln(os.Stderr, "responderload:", err)
		os.Exit(1)
	}
	c, err := firewalld.New(conn, firewalld.Config{Mode: firewalld.Mode(mode)}, slog.New(slog.DiscardHandler))
	if err != nil {
		fmt.Fprintln(os.Stderr, "responderload:", err)
		os.Exit(1)
	}
	return &watcher{c: c}
}

// list returns what the firewall drops: the kernel's nft set when
// nftNetns is set, firewalld's own list otherwise, sorted.
func (w *watcher) list(ctx context.Context) ([]netip.Prefix, error) {
	if w.nftNetns == "" {
		return w.c.List(ctx)
	}
	args := append([]string{"netns", "exec", w.nftNetns, "nft", "-j", "list", "set"}, strings.Fields(w.nftSet)...)
	out, err := exec.CommandContext(ctx, "ip", args...).Output()
	if err != nil {
		return nil, fmt.Errorf("nft list set %s: %w", w.nftSet, err)
	}
	var doc struct {
		Nftables []struct {
			Set *struct {
				Elem []json.RawMessage `json:"elem"`
			} `json:"set"`
		} `json:"nftables"`
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		return nil, fmt.Errorf("nft's JSON: %w", err)
	}
	var got []netip.Prefix
	for _, o := range doc.Nftables {
		if o.Set == nil {
			continue
		}
		for _, e := range o.Set.Elem {
			if p, ok := elemPrefix(e); ok {
				got = append(got, p)
			}
		}
	}
	slices.SortFunc(got, cmpPrefix)
	return got, nil
}

// holds counts how many of ps firewalld holds.
func (w *watcher) holds(ctx context.Context, ps []netip.Prefix) (int, error) {
	got, err := w.list(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, p := range ps {
		if _, ok := slices.BinarySearchFunc(got, p, cmpPrefix); ok {
			n++
		}
	}
	return n, nil
}

func cmpPrefix(a, b netip.Prefix) int {
	if c := a.Addr().Compare(b.Addr()); c != 0 {
		return c
	}
	return a.Bits() - b.Bits()
}

// waitAll polls firewalld until it holds all of ps.
func (w *watcher) waitAll(ctx context.Context, ps []netip.Prefix) error {
	for {
		n, err := w.holds(ctx, ps)
		if err == nil && n == len(ps) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("firewalld holds %d of %d: %w (last error %v)", n, len(ps), ctx.Err(), err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// stages reads the responder's own figures of the run from /metrics: the
// backend calls by operation (count and seconds) and the ledger's commits
// (saves), as "key=value" fields.
func stages(url string) string {
	resp, err := client.Get(url + "/metrics")
	if err != nil {
		return "stages=unavailable"
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var out []string
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) != 2 {
			continue
		}
		name := f[0]
		var key string
		switch {
		case strings.HasPrefix(name, "synguard_responder_backend_call_duration_seconds_count{") && strings.Contains(name, `op="add"`):
			key = "add_calls"
		case strings.HasPrefix(name, "synguard_responder_backend_call_duration_seconds_sum{") && strings.Contains(name, `op="add"`):
			key = "add_seconds"
		case strings.HasPrefix(name, "synguard_responder_backend_call_entries_sum{") && strings.Contains(name, `op="add"`):
			key = "add_entries"
		case strings.HasPrefix(name, "synguard_responder_backend_call_duration_seconds_count{") && strings.Contains(name, `op="sync"`):
			key = "sync_calls"
		case strings.HasPrefix(name, "synguard_responder_backend_call_duration_seconds_sum{") && strings.Contains(name, `op="sync"`):
			key = "sync_seconds"
		case strings.HasPrefix(name, "synguard_responder_state_save_duration_seconds_count"):
			key = "saves"
		case strings.HasPrefix(name, "synguard_responder_state_save_duration_seconds_sum"):
			key = "save_seconds"
		case strings.HasPrefix(name, "synguard_responder_notification_batch_size_count"):
			key = "batches"
		default:
			continue
		}
		out = append(out, key+"="+f[1])
	}
	if len(out) == 0 {
		return "stages=unavailable"
	}
	return strings.Join(out, " ")
}

func block(ctx context.Context, url string, w *watcher, mon *monitor, ps []netip.Prefix, group, conc int) error {
	var groups [][]netip.Prefix
	for i := 0; i < len(ps); i += group {
		groups = append(groups, ps[i:min(i+group, len(ps))])
	}
	t0 := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	errc := make(chan error, conc)
	var maxLat, lastAck atomic.Int64
	var lmu sync.Mutex
	var lats []time.Duration
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(groups) {
					return
				}
				d, err := send(url, body(groups[i], i))
				if err != nil {
					errc <- err
					return
				}
				at := int64(time.Since(t0))
				for {
					m := lastAck.Load()
					if at <= m || lastAck.CompareAndSwap(m, at) {
						break
					}
				}
				lmu.Lock()
				lats = append(lats, d)
				lmu.Unlock()
				for {
					m := maxLat.Load()
					if int64(d) <= m || maxLat.CompareAndSwap(m, int64(d)) {
						break
					}
				}
			}
		}()
	}
	wg.Wait()
	acked := time.Duration(lastAck.Load())
	select {
	case err := <-errc:
		return err
	default:
	}
	var total time.Duration
	if mon != nil {
		at, err := mon.wait(ctx)
		if err != nil {
			return err
		}
		total = at.Sub(t0)
	}
	// Read back what the firewall holds (firewalld, or the kernel's set).
	if err := w.waitAll(ctx, ps); err != nil {
		return err
	}
	if mon == nil {
		total = time.Since(t0)
	}
	slices.Sort(lats)
	p50 := lats[len(lats)/2]
	fmt.Printf("prefixes=%d notifications=%d group=%d senders=%d acked_ms=%.0f p50_notification_ms=%.1f max_notification_ms=%.1f total_ms=%.0f per_prefix_ms=%.3f last_ack_to_all_dropped_ms=%.0f %s\n",
		len(ps), len(groups), group, conc, ms(acked), ms(p50), ms(time.Duration(maxLat.Load())), ms(total), ms(total)/float64(len(ps)), ms(total-acked), stages(url))
	return nil
}

// monitor follows `nft -j monitor` in a network namespace: the elements
// added to and deleted from one set, until every wanted prefix is in it.
type monitor struct {
	done chan struct{}
	at   time.Time
	err  error
}

func startMonitor(ctx context.Context, netns, set string, want []netip.Prefix) (*monitor, error) {
	f := strings.Fields(set)
	if len(f) != 3 {
		return nil, fmt.Errorf("-nft-set %q: want FAMILY TABLE NAME", set)
	}
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", netns, "nft", "-j", "monitor")
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("nft monitor: %w", err)
	}
	// Subscribed before the first notification is sent.
	time.Sleep(300 * time.Millisecond)
	wanted := map[netip.Prefix]bool{}
	for _, p := range want {
		wanted[p] = false
	}
	m := &monitor{done: make(chan struct{})}
	go func() {
		defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
		defer close(m.done)
		have := 0
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 1<<20), 64<<20)
		for sc.Scan() {
			var ev map[string]struct {
				Element *struct {
					Family, Table, Name string
					Elem                struct {
						Set []json.RawMessage `json:"set"`
					} `json:"elem"`
				} `json:"element"`
				Set *struct{ Family, Table, Name string } `json:"set"`
			}
			if json.Unmarshal(sc.Bytes(), &ev) != nil {
				continue
			}
			for op, o := range ev {
				if o.Set != nil && op != "add" && o.Set.Family == f[0] && o.Set.Table == f[1] && o.Set.Name == f[2] {
					// A flushed or deleted set holds nothing.
					for p, in := range wanted {
						if in {
							wanted[p] = false
						}
					}
					have = 0
				}
				if o.Element == nil || o.Element.Family != f[0] || o.Element.Table != f[1] || o.Element.Name != f[2] {
					continue
				}
				for _, raw := range o.Element.Elem.Set {
					p, ok := elemPrefix(raw)
					in, want := wanted[p]
					if !ok || !want {
						continue
					}
					switch {
					case op == "add" && !in:
						wanted[p] = true
						have++
					case op == "delete" && in:
						wanted[p] = false
						have--
					}
				}
			}
			if have == len(wanted) {
				m.at = time.Now()
				return
			}
		}
		m.err = fmt.Errorf("nft monitor ended before every prefix was in %s (%d of %d): %v", set, have, len(wanted), sc.Err())
	}()
	return m, nil
}

// wait returns when the set held every wanted prefix.
func (m *monitor) wait(ctx context.Context) (time.Time, error) {
	select {
	case <-m.done:
		return m.at, m.err
	case <-ctx.Done():
		return time.Time{}, ctx.Err()
	}
}

// elemPrefix parses one nft JSON set element: {"prefix": {...}} or an
// address.
func elemPrefix(raw json.RawMessage) (netip.Prefix, bool) {
	var el struct {
		Prefix struct {
			Addr string `json:"addr"`
			Len  int    `json:"len"`
		} `json:"prefix"`
	}
	if json.Unmarshal(raw, &el) == nil && el.Prefix.Addr != "" {
		p, err := netip.ParsePrefix(fmt.Sprintf("%s/%d", el.Prefix.Addr, el.Prefix.Len))
		return p, err == nil
	}
	var addr string
	if json.Unmarshal(raw, &addr) == nil {
		a, err := netip.ParseAddr(addr)
		return netip.PrefixFrom(a, a.BitLen()), err == nil
	}
	return netip.Prefix{}, false
}

func restore(ctx context.Context, w *watcher, n int, cmdline string) error {
	ps := prefixes(0, n)
	if err := w.waitAll(ctx, ps); err != nil {
		return fmt.Errorf("before: %w", err)
	}
	t0 := time.Now()
	out, err := exec.CommandContext(ctx, "bash", "-c", cmdline).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %v: %s", cmdline, err, out)
	}
	reloaded := time.Since(t0)
	left, _ := w.holds(ctx, ps)
	if err := w.waitAll(ctx, ps); err != nil {
		return err
	}
	total := time.Since(t0)
	fmt.Printf("prefixes=%d reload_cmd_ms=%.0f left_after_reload=%d restored_ms=%.0f restore_after_reload_ms=%.0f\n",
		n, ms(reloaded), left, ms(total), ms(total-reloaded))
	return nil
}

func load(ctx context.Context, url string, w *watcher, ps []netip.Prefix, conc int, dur time.Duration) error {
	// One alert per notification, each for a prefix already blocked, as the
	// repeats of an Alertmanager HA pair.
	bodies := make([][]byte, len(ps))
	for i, p := range ps {
		bodies[i] = body([]netip.Prefix{p}, i)
	}
	var mu sync.Mutex
	var lats []time.Duration
	var errs atomic.Int64
	var next atomic.Int64
	deadline := time.Now().Add(dur)
	t0 := time.Now()
	var wg sync.WaitGroup
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			for time.Now().Before(deadline) {
				i := int(next.Add(1)-1) % len(bodies)
				d, err := send(url, bodies[i])
				if err != nil {
					errs.Add(1)
					continue
				}
				mine = append(mine, d)
			}
			mu.Lock()
			lats = append(lats, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	el := time.Since(t0)
	slices.Sort(lats)
	pct := func(q float64) time.Duration {
		if len(lats) == 0 {
			return 0
		}
		return lats[min(len(lats)-1, int(q*float64(len(lats))))]
	}
	held, err := w.holds(ctx, ps)
	if err != nil {
		return err
	}
	fmt.Printf("requests=%d errors=%d seconds=%.1f req_per_s=%.0f p50_ms=%.2f p99_ms=%.2f max_ms=%.2f blocks_held=%d/%d\n",
		len(lats), errs.Load(), el.Seconds(), float64(len(lats))/el.Seconds(), ms(pct(0.5)), ms(pct(0.99)), ms(pct(1)), held, len(ps))
	if held != len(ps) {
		return fmt.Errorf("blocks lost under load: %d of %d held", held, len(ps))
	}
	return nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
