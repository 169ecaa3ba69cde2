// Command responderload drives synguard-responder's webhook as Alertmanager
// would, for test/bench/responder.sh, and watches the effect in firewalld
// over its own D-Bus connection. Subcommands:
//
//	block    send N prefixes in notifications of G alerts from C senders, and
//	         time until firewalld holds all of them
//	restore  run a command (firewall-cmd --reload) and time until firewalld
//	         holds N entries again
//	load     re-send notifications for already-blocked prefixes for a while:
//	         requests/s, p50/p99 latency, and whether any block was lost
//
// Each prints one line of "key=value" figures.
package main

import (
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
	fs.Parse(os.Args[2:])

	ps := prefixes(*offset, *n)
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	fw := newWatcher(*bus, *mode)
	var err error
	switch os.Args[1] {
	case "block":
		err = block(ctx, *url, fw, ps, *group, *conc)
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

type watcher struct{ c *firewalld.Client }

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
	return &watcher{c}
}

// holds counts how many of ps firewalld holds.
func (w *watcher) holds(ctx context.Context, ps []netip.Prefix) (int, error) {
	got, err := w.c.List(ctx)
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
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func block(ctx context.Context, url string, w *watcher, ps []netip.Prefix, group, conc int) error {
	var groups [][]netip.Prefix
	for i := 0; i < len(ps); i += group {
		groups = append(groups, ps[i:min(i+group, len(ps))])
	}
	t0 := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	errc := make(chan error, conc)
	var maxLat atomic.Int64
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
	acked := time.Since(t0)
	select {
	case err := <-errc:
		return err
	default:
	}
	if err := w.waitAll(ctx, ps); err != nil {
		return err
	}
	total := time.Since(t0)
	fmt.Printf("prefixes=%d notifications=%d group=%d senders=%d acked_ms=%.0f max_notification_ms=%.1f total_ms=%.0f per_prefix_ms=%.3f\n",
		len(ps), len(groups), group, conc, ms(acked), ms(time.Duration(maxLat.Load())), ms(total), ms(total)/float64(len(ps)))
	return nil
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
