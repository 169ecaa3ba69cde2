package soak

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/synguard/synguard/internal/lab"
)

// setup is one backend setup with a real firewall, as the contract suite
// knows it.
type setup struct{ name, backend, mode string }

// Bounds. Settling waits for firewalld to start again after a crash, which
// on a busy two-core machine takes tens of seconds; the invariant must
// hold within checkWindow of settling (what an expiry or an unblock has in
// flight then is one backend call), well inside the reconcile interval, so
// a periodic Sync cannot hide a divergence.
const (
	settleWithin = 150 * time.Second
	checkWindow  = 6 * time.Second
	// probeTimeout is how long a connection from the attacker namespace
	// may take before it counts as dropped: the veth answers in well under
	// a millisecond.
	probeTimeout = 400 * time.Millisecond
	startWithin  = 60 * time.Second
	maxOps       = 100000
)

// campaign is one setup's run.
type campaign struct {
	t      *testing.T
	s      setup
	rng    *rand.Rand
	pool   Pool
	l      *lab.Lab
	fw     *firewall
	r      *responder
	dir    *stateDir
	log    *Log
	counts Counts
	// operator holds the operator's own drop sources, added out of band.
	operator []netip.Prefix
	// asked holds every prefix a good operation asked to block; fired,
	// those an alert fired for (a resolve picks from them).
	asked, fired []netip.Prefix
	// last is the API's last answer, for unblocks of active prefixes.
	last state
	// fwDown: firewalld was killed and is left down for a few operations.
	fwDown bool
	// forger is test/lab/cmd/forgesignals, built: the hostile local
	// user's process.
	forger     string
	violations []string
}

func (c *campaign) violate(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	c.counts.Violations++
	c.violations = append(c.violations, msg)
	c.log.Add("VIOLATION: %s", msg)
}

func writeConfig(path, state, tokenDir string, s setup, ns string) error {
	cfg := fmt.Sprintf(`state_file: %s
webhook:
  bearer_token_file: %[3]s/webhook.token
  max_body_bytes: 65536
  max_alerts: 20
api:
  bearer_token_file: %[3]s/api.token
policy:
  rate_limit: {blocks_per_minute: 600, burst: 200}
  block_duration: {base: 2s, factor: 2, max: 8s}
  offence_memory: 2m
  lift_on_resolve: true
  min_hold: 1s
firewall:
  backend: %[4]s
  reconcile_interval: 20s
`, state, "", tokenDir, s.backend)
	if s.backend == "firewalld" {
		cfg += fmt.Sprintf("  conntrack_netns: /run/netns/%s\n  firewalld:\n    mode: %s\n    allow_reload: true\n", ns, s.mode)
	}
	return os.WriteFile(path, []byte(cfg), 0o600)
}

// run is the campaign on one setup until end.
func (c *campaign) run(bin string, end time.Time) {
	c.setUp(bin)
	c.loop(end)
}

// setUp starts the lab, mounts the state tmpfs and starts the responder.
func (c *campaign) setUp(bin string) {
	t := c.t
	c.l = lab.Start(t, "sgs", "../lab/firewalld.sh")
	c.fw = &firewall{l: c.l, setup: c.s}
	t.Cleanup(c.fw.close)
	dir, err := mountStateDir(fmt.Sprintf("sgs-%d-%s-state", os.Getpid(), strings.ReplaceAll(c.s.name, "/", "-")), "4m")
	if err != nil {
		t.Fatal(err)
	}
	c.dir = dir
	tokens := t.TempDir()
	for _, f := range []string{"webhook.token", "api.token"} {
		if err := os.WriteFile(filepath.Join(tokens, f), []byte("soak-"+f+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfg := filepath.Join(tokens, "responder.yml")
	if err := writeConfig(cfg, filepath.Join(dir.dir, "state.json"), tokens, c.s, c.l.NS); err != nil {
		t.Fatal(err)
	}
	inNS := ""
	if c.s.backend == "nftables" {
		inNS = c.l.NS
	}
	c.r, err = newResponder(bin, cfg, inNS, "soak-api.token")
	if err != nil {
		t.Fatal(err)
	}
	if c.s.backend == "firewalld" {
		c.r.args = []string{"--dbus.address=" + c.l.BusAddr}
	}
	// Cleanup runs last-in first-out: the responder stops before the
	// tmpfs is unmounted and before the lab goes.
	t.Cleanup(func() {
		if err := c.dir.unmount(); err != nil {
			t.Errorf("state tmpfs: %v", err)
		}
	})
	t.Cleanup(c.r.stop)
	if err := c.r.start(startWithin); err != nil {
		t.Fatalf("%v\n%s", err, c.r.tail(40))
	}
	c.log.Add("setup %s: lab %s, responder pid %d on %s", c.s.name, c.l.NS, c.r.pid(), c.r.addr)
}

func (c *campaign) loop(end time.Time) {
	for c.counts.Ops < maxOps && time.Now().Before(end) {
		if c.fwDown {
			c.fwStart()
			c.counts.Add("firewalld_start", false)
		}
		ok := c.settleAndCheck()
		if !ok && len(c.violations) > 20 {
			break
		}
		// Right after a check nothing is in flight: the operations whose
		// effect is judged against a quiet responder go first.
		if ok {
			switch n := c.rng.IntN(10); {
			case n == 0 && len(c.operator) < 3:
				c.opOperator()
			case n <= 2 && c.s.backend == "firewalld":
				c.opForge()
			}
		}
		for range 2 + c.rng.IntN(5) {
			c.op()
		}
	}
	if c.dir.isFull() {
		c.opFree()
	}
	if c.fwDown {
		c.fwStart()
	}
	c.settleAndCheck()
}

// weights of the operations between checks.
var weights = []struct {
	kind   string
	weight int
	fault  bool
}{
	{"webhook_firing", 20, false},
	{"webhook_resolved", 6, false},
	{"webhook_hostile", 10, false},
	{"api_hostile", 3, false},
	{"api_block", 14, false},
	{"api_unblock", 10, false},
	{"wait", 6, false},
	{"firewalld_reload", 3, true},
	{"firewalld_complete_reload", 2, true},
	{"firewalld_restart", 2, true},
	{"firewalld_crash", 2, true},
	{"firewalld_down", 2, true},
	{"responder_crash", 3, true},
	{"state_full", 2, true},
	{"nft_table_deleted", 1, true},
}

func (c *campaign) op() {
	total := 0
	for _, w := range weights {
		total += w.weight
	}
	n := c.rng.IntN(total)
	var kind string
	fault := false
	for _, w := range weights {
		if n < w.weight {
			kind, fault = w.kind, w.fault
			break
		}
		n -= w.weight
	}
	if c.fwDown && strings.HasPrefix(kind, "firewalld_") {
		// firewalld was killed and left down: the next firewalld fault
		// brings it back instead.
		c.fwStart()
		c.counts.Add("firewalld_start", false)
		return
	}
	switch kind {
	case "firewalld_down":
		out, err := c.l.FwOut("fw_crash")
		c.log.Add("fw_crash (SIGKILL, left down): %v %s", err, oneLine(out))
		c.fwDown = true
	case "webhook_firing":
		c.opFiring()
	case "webhook_resolved":
		c.opResolved()
	case "webhook_hostile":
		c.opHostile()
	case "api_hostile":
		c.opAPIHostile()
	case "api_block":
		c.opBlock()
	case "api_unblock":
		c.opUnblock()
	case "wait":
		d := time.Duration(200+c.rng.IntN(2800)) * time.Millisecond
		c.log.Add("wait %s", d)
		time.Sleep(d)
	case "firewalld_reload":
		c.opFirewalld("fw_reload")
	case "firewalld_complete_reload":
		c.opFirewalld("fw_complete_reload")
	case "firewalld_restart":
		c.opFirewalld("fw_restart")
	case "firewalld_crash":
		c.opFirewalld("fw_crash_restart")
	case "responder_crash":
		c.opResponderCrash()
	case "state_full":
		if c.dir.isFull() {
			c.opFree()
			kind, fault = "state_freed", false
		} else {
			c.opFull()
		}
	case "nft_table_deleted":
		if c.s.backend != "nftables" {
			// Only the nftables backend has a table of its own; elsewhere
			// the slot is one more firewalld reload.
			c.opFirewalld("fw_reload")
			kind = "firewalld_reload"
			break
		}
		out, err := exec.Command("ip", "netns", "exec", c.l.NS, "nft", "delete", "table", "inet", "synguard").CombinedOutput()
		c.log.Add("nft delete table inet synguard: %v %s", err, strings.TrimSpace(string(out)))
	}
	c.counts.Add(kind, fault)
}

type alert struct {
	Status string            `json:"status"`
	Labels map[string]string `json:"labels"`
}

func notification(status string, ps []netip.Prefix) []byte {
	var as []alert
	for _, p := range ps {
		as = append(as, alert{status, map[string]string{"alertname": "SynFloodPrefix", "action": "block", "prefix": p.String(), "severity": "critical"}})
	}
	b, _ := json.Marshal(map[string]any{"version": "4", "status": status, "receiver": "responder", "groupKey": "{}:{soak}", "alerts": as})
	return b
}

func (c *campaign) webhook(what string, body []byte, contentType string, header ...string) (int, error) {
	code, resp, err := c.r.do(http.MethodPost, "/webhook", contentType, body, header...)
	c.log.Add("%s (%d bytes): %d %v %s", what, len(body), code, err, oneLine(resp))
	return code, err
}

const webhookToken = "soak-webhook.token"

func (c *campaign) opFiring() {
	var ps []netip.Prefix
	for range 1 + c.rng.IntN(4) {
		ps = append(ps, c.pool.Prefix())
	}
	c.asked = append(c.asked, ps...)
	c.fired = append(c.fired, ps...)
	c.webhook(fmt.Sprintf("webhook firing %v", ps), notification("firing", ps), "application/json", "Authorization", "Bearer "+webhookToken)
}

func (c *campaign) opResolved() {
	if len(c.fired) == 0 {
		c.opFiring()
		return
	}
	var ps []netip.Prefix
	for range 1 + c.rng.IntN(3) {
		ps = append(ps, c.fired[c.rng.IntN(len(c.fired))])
	}
	c.webhook(fmt.Sprintf("webhook resolved %v", ps), notification("resolved", ps), "application/json", "Authorization", "Bearer "+webhookToken)
}

// opHostile sends a webhook a neighbour might: every one carries prefixes
// of HostileRange only, and each must be refused with its code.
func (c *campaign) opHostile() {
	ps := []netip.Prefix{c.pool.Hostile(), c.pool.Hostile()}
	good := notification("firing", ps)
	auth := []string{"Authorization", "Bearer " + webhookToken}
	var what, ct string
	var body []byte
	var header []string
	want := 0
	switch c.rng.IntN(6) {
	case 0:
		what, ct, body, header, want = "malformed", "application/json", good[:len(good)/2], auth, http.StatusBadRequest
	case 1:
		pad := make([]byte, 65536+c.rng.IntN(200000))
		for i := range pad {
			pad[i] = ' '
		}
		what, ct, body, header, want = "oversized", "application/json", append(slices.Clone(good), pad...), auth, http.StatusRequestEntityTooLarge
	case 2:
		what, ct, body, header, want = "text/plain", "text/plain", good, auth, http.StatusUnsupportedMediaType
	case 3:
		what, ct, body, want = "cross-origin", "application/json", good, http.StatusForbidden
		header = append(slices.Clone(auth), "Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site")
	case 4:
		what, ct, body, want = "no token", "application/json", good, http.StatusUnauthorized
	default:
		what, ct, body, want = "wrong token", "application/json", good, http.StatusUnauthorized
		header = []string{"Authorization", "Bearer nope"}
	}
	code, err := c.webhook(fmt.Sprintf("webhook hostile %s %v", what, ps), body, ct, header...)
	// The server may close the connection on an oversized body before
	// the client has written it all: refused as well.
	refusedEarly := what == "oversized" && err != nil && (strings.Contains(err.Error(), "reset") || strings.Contains(err.Error(), "broken pipe"))
	if code != want && !refusedEarly {
		c.violate("hostile webhook (%s) answered %d (%v), want %d", what, code, err, want)
	}
}

// opAPIHostile tries to block a hostile prefix through the API the ways a
// web page or a neighbour without the token could.
func (c *campaign) opAPIHostile() {
	p := c.pool.Hostile()
	body := []byte(fmt.Sprintf(`{"prefix":%q,"duration":"1h","reason":"hostile"}`, p))
	var code int
	var err error
	var want int
	what := ""
	switch c.rng.IntN(3) {
	case 0:
		what, want = "cross-origin", http.StatusForbidden
		code, _, err = c.r.authed(http.MethodPost, "/api/v1/blocks", body, "Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site")
	case 1:
		what, want = "no token", http.StatusUnauthorized
		code, _, err = c.r.do(http.MethodPost, "/api/v1/blocks", "application/json", body)
	default:
		what, want = "text/plain", http.StatusUnsupportedMediaType
		code, _, err = c.r.do(http.MethodPost, "/api/v1/blocks", "text/plain", body, "Authorization", "Bearer "+c.r.token)
	}
	c.log.Add("api hostile %s block %v: %d %v", what, p, code, err)
	if code != want {
		c.violate("hostile API block (%s) answered %d, want %d", what, code, want)
	}
}

func (c *campaign) opBlock() {
	p := c.pool.Prefix()
	d := 1 + c.rng.IntN(5)
	c.asked = append(c.asked, p)
	code, resp, err := c.r.authed(http.MethodPost, "/api/v1/blocks", []byte(fmt.Sprintf(`{"prefix":%q,"duration":"%ds","reason":"soak"}`, p, d)))
	c.log.Add("api block %v for %ds: %d %v %s", p, d, code, err, oneLine(resp))
}

func (c *campaign) opUnblock() {
	var p netip.Prefix
	if len(c.last.active) > 0 && c.rng.IntN(4) != 0 {
		p = c.last.active[c.rng.IntN(len(c.last.active))]
	} else {
		p = c.pool.Prefix()
	}
	code, resp, err := c.r.authed(http.MethodDelete, "/api/v1/blocks/"+p.String(), nil)
	c.log.Add("api unblock %v: %d %v %s", p, code, err, oneLine(resp))
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 160 {
		s = s[:160] + "..."
	}
	return s
}

// opFirewalld runs one of the lab's firewalld faults; a firewalld that
// does not start again (its own start time, not synguard's) is started
// once more before the campaign gives up on the lab.
func (c *campaign) opFirewalld(fn string) {
	start := time.Now()
	out, err := c.l.FwOut(fn)
	c.log.Add("%s: %v (%s)", fn, err, time.Since(start).Round(time.Millisecond))
	if err == nil {
		return
	}
	c.log.Add("%s output: %s", fn, oneLine(out))
	if c.fwDown {
		// Left down on purpose (firewalld_down): a reload fails, and the
		// loop starts it when its turn comes.
		return
	}
	if _, err := c.l.FwOut("fw_running"); err == nil {
		return
	}
	_, _ = c.l.FwOut("fw_stop")
	if out, err := c.l.FwOut("fw_start"); err != nil {
		c.t.Fatalf("firewalld does not start again after %s: %v\n%s\nlog:\n%s", fn, err, out, c.log)
	}
}

// fwStart starts the firewalld that firewalld_down left down.
func (c *campaign) fwStart() {
	start := time.Now()
	out, err := c.l.FwOut("fw_start")
	c.log.Add("fw_start: %v (%s)", err, time.Since(start).Round(time.Millisecond))
	if err != nil {
		_, _ = c.l.FwOut("fw_stop")
		if out2, err := c.l.FwOut("fw_start"); err != nil {
			c.t.Fatalf("firewalld does not start again: %v\n%s\n%s\nlog:\n%s", err, out, out2, c.log)
		}
	}
	c.fwDown = false
}

func (c *campaign) opResponderCrash() {
	c.r.kill()
	err := c.r.start(startWithin)
	c.log.Add("responder SIGKILL and start: %v (pid %d)", err, c.r.pid())
	if err == nil {
		return
	}
	if c.dir.isFull() {
		// A responder that cannot write its state may refuse to start; it
		// must start once there is room again.
		c.log.Add("start with a full state directory failed: %s", oneLine(c.r.tail(3)))
		c.counts.Note("responder_start_refused_state_full")
		c.opFree()
		err = c.r.start(startWithin)
		c.log.Add("responder start after freeing the state directory: %v", err)
	}
	if err != nil {
		c.violate("the responder does not start again after a crash: %v: %s", err, c.r.tail(10))
		c.t.Fatalf("seed %d: the responder does not start again:\n%s\nresponder:\n%s", seedOf(c.t), c.log, c.r.tail(60))
	}
}

func (c *campaign) opFull() {
	err := c.dir.full()
	c.log.Add("state directory filled up: %v", err)
	if err != nil {
		c.t.Fatal(err)
	}
}

func (c *campaign) opFree() {
	err := c.dir.free()
	c.log.Add("state directory freed: %v", err)
}

// opOperator adds an operator's own drop source out of band, for a prefix
// the responder neither blocks nor lists now; it covers none of the lab's
// probe addresses, so traffic still tells the responder's blocks apart.
func (c *campaign) opOperator() {
	for range 40 {
		// /27s, the blocks' commonest size, so that blocks of the same
		// prefix come (and must leave the operator's source alone).
		p := c.pool.Prefix()
		if p.Bits() != 27 && p.Bits() != 64 {
			continue
		}
		if slices.Contains(c.last.active, p) || slices.Contains(c.operator, p) || coversProbe(p) {
			continue
		}
		h, err := c.fw.read()
		if err != nil || slices.Contains(h.zone, p) || slices.Contains(h.entries, p) {
			continue
		}
		err = operatorAdd(c.l, p)
		c.log.Add("operator: firewall-cmd --zone=drop --add-source=%v (runtime and permanent): %v", p, err)
		if err != nil {
			c.t.Fatal(err)
		}
		c.operator = append(c.operator, p)
		c.counts.Add("operator_source", false)
		return
	}
}

// hostileUID is the unprivileged local user the lab's bus lets in
// (FW_HOSTILE_USER, nobody).
const hostileUID = 65534

// opForge sends the responder forged firewalld signals, as the lab's
// unprivileged user (forgesignals as uid 65534) and from a second root
// connection, and checks that it acted on none: no event logged, nothing
// reloaded (the next check sees what a reload would drop).
func (c *campaign) opForge() {
	name, err := c.fw.responderName(c.r.pid())
	if err != nil {
		c.log.Add("forge: %v", err)
		return
	}
	events := []string{"firewall reloaded;", "firewall restarted;", "firewall stopped;"}
	// Events of the faults before (firewalld's Reloaded after a reload
	// the responder asked for) may still arrive: wait until none has for
	// a second.
	before := c.r.countLog(events...)
	for range 10 {
		time.Sleep(time.Second)
		n := c.r.countLog(events...)
		if n == before {
			break
		}
		before = n
	}
	n, err := c.fw.forgeAs(c.forger, hostileUID, name)
	if err != nil {
		// The lab's bus lets this uid in: a refusal means the campaign
		// cannot show what it claims.
		c.t.Fatalf("forge signals as uid %d: %v", hostileUID, err)
	}
	c.counts.Tally(fmt.Sprintf("signals_forged_uid%d", hostileUID), n)
	err = c.fw.forge(name)
	if err == nil {
		c.counts.Tally("signals_forged_root", rootForged)
	}
	time.Sleep(time.Second)
	after := c.r.countLog(events...)
	c.log.Add("forged NameOwnerChanged (gone, new owner, changed owner) and Reloaded to %s: %d as uid %d, %d from a second root connection (%v); events logged %d -> %d", name, n, hostileUID, rootForged, err, before, after)
	c.counts.Add("forged_signals", true)
	if after != before {
		c.violate("forged signals made the responder log %d firewall events: %s", after-before, oneLine(c.r.tail(after-before+2)))
	}
}

// probes are the lab's addresses a check connects from.
var probes = []netip.Addr{lab.Attacker4, lab.Control4, lab.Attacker6, lab.Control6}

func coversProbe(p netip.Prefix) bool {
	for _, a := range probes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func seedOf(t *testing.T) uint64 { return seed(t) }
