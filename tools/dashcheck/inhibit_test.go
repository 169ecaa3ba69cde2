package dashcheck

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// amConfig is deploy/alertmanager/alertmanager.yml with every receiver
// turned into a webhook to url/<receiver> and the root group_wait and
// group_interval at 1s, so a test sees notifications within seconds. The
// routes and inhibit rules are the file's own.
func amConfig(t *testing.T, url string) []byte {
	t.Helper()
	b, err := os.ReadFile("../../deploy/alertmanager/alertmanager.yml")
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := yaml.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	route := cfg["route"].(map[string]any)
	route["group_wait"], route["group_interval"] = "1s", "1s"
	for _, r := range cfg["receivers"].([]any) {
		rc := r.(map[string]any)
		name := rc["name"].(string)
		for k := range rc {
			if k != "name" {
				delete(rc, k)
			}
		}
		rc["webhook_configs"] = []any{map[string]any{"url": url + "/" + name, "send_resolved": false, "max_alerts": 0}}
	}
	out, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// notification is what the recorder keeps of one webhook call.
type notification struct {
	receiver string
	alerts   []string // alertname/host
}

type recorder struct {
	mu   sync.Mutex
	got  []notification
	seen map[string]bool // receiver alertname/host
}

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	var body struct {
		Alerts []struct {
			Labels map[string]string `json:"labels"`
		} `json:"alerts"`
	}
	if err := json.NewDecoder(req.Body).Decode(&body); err != nil {
		http.Error(w, err.Error(), 400)
		return
	}
	n := notification{receiver: strings.TrimPrefix(req.URL.Path, "/")}
	for _, a := range body.Alerts {
		n.alerts = append(n.alerts, a.Labels["alertname"]+"/"+a.Labels["host"])
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, n)
	for _, a := range n.alerts {
		r.seen[n.receiver+" "+a] = true
	}
}

func (r *recorder) has(key string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.seen[key]
}

func (r *recorder) keys() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var k []string
	for s := range r.seen {
		k = append(k, s)
	}
	slices.Sort(k)
	return k
}

// startAlertmanager runs Debian's prometheus-alertmanager on loopback with
// cfg, in a temporary directory, without clustering, and returns its URL.
func startAlertmanager(t *testing.T, cfg []byte) string {
	t.Helper()
	bin, err := exec.LookPath("prometheus-alertmanager")
	if err != nil {
		bin, err = exec.LookPath("alertmanager")
	}
	if err != nil {
		t.Fatal("the inhibit rules are tested against a real Alertmanager: install Debian's prometheus-alertmanager (.ci/packages)")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "alertmanager.yml")
	if err := os.WriteFile(path, cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "--config.file="+path, "--storage.path="+dir,
		"--web.listen-address="+addr, "--cluster.listen-address=", "--log.level=warn")
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("alertmanager's log:\n%s", logs.String())
		}
	})
	url := "http://" + addr
	for i := 0; i < 100; i++ {
		if resp, err := http.Get(url + "/-/ready"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return url
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("alertmanager not ready at %s:\n%s", url, logs.String())
	return ""
}

func postAlerts(t *testing.T, url string, alerts ...map[string]string) {
	t.Helper()
	var body []map[string]any
	for _, l := range alerts {
		// Starting now: Alertmanager flushes a new group at once, without
		// group_wait, for an alert that started longer ago than group_wait,
		// which would race the inhibitor learning of the source alerts.
		body = append(body, map[string]any{"labels": l, "startsAt": time.Now().Format(time.RFC3339Nano)})
	}
	b, _ := json.Marshal(body)
	resp, err := http.Post(url+"/api/v2/alerts", "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("post alerts: %s", resp.Status)
	}
}

// TestInhibitRules posts alerts to a real Alertmanager running the shipped
// routes and inhibit rules (promtool does not evaluate inhibitions) and
// reads which notifications a webhook receiver gets:
//   - mx1 floods diffusely: the flood alert reaches the operators, its SYN
//     cookies and listen drops do not;
//   - mx2 has SYN cookies and listen drops and no flood: both are sent, so
//     the rule is scoped to the host (and this test can fail);
//   - mx3 has a block alert and SYN cookies: the cookies are held back,
//     the block alert itself reaches the responder and the operators, since
//     a muted block alert is a block never made.
func TestInhibitRules(t *testing.T) {
	rec := &recorder{seen: map[string]bool{}}
	hook := httptest.NewServer(rec)
	t.Cleanup(hook.Close)
	am := startAlertmanager(t, amConfig(t, hook.URL))

	a := func(name, host string, extra ...string) map[string]string {
		l := map[string]string{"alertname": name, "host": host, "job": "synguard-exporter", "severity": "warning"}
		for i := 0; i+1 < len(extra); i += 2 {
			l[extra[i]] = extra[i+1]
		}
		return l
	}
	postAlerts(t, am,
		a("SynguardDiffuseFlood", "mx1", "severity", "critical", "family", "ipv4"),
		a("SynguardSynCookiesSent", "mx1"),
		a("SynguardListenDrops", "mx1"),
		a("SynguardSynCookiesSent", "mx2"),
		a("SynguardListenDrops", "mx2"),
		a("SynguardPrefixFlooding", "mx3", "action", "block", "scope", "host", "prefix", "198.51.100.32/27", "family", "ipv4"),
		a("SynguardSynCookiesSent", "mx3"),
	)

	want := []string{
		"operators SynguardDiffuseFlood/mx1",
		"operators SynguardSynCookiesSent/mx2",
		"operators SynguardListenDrops/mx2",
		"operators SynguardPrefixFlooding/mx3",
		"synguard-responder SynguardPrefixFlooding/mx3",
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) && !allSeen(rec, want) {
		time.Sleep(100 * time.Millisecond)
	}
	// Every group has had group_wait and one group_interval more by now:
	// an inhibited alert that was going to be sent would have been.
	time.Sleep(3 * time.Second)
	for _, k := range want {
		if !rec.has(k) {
			t.Errorf("%s: not notified; notified: %q", k, rec.keys())
		}
	}
	for _, k := range []string{
		"operators SynguardSynCookiesSent/mx1",
		"operators SynguardListenDrops/mx1",
		"operators SynguardSynCookiesSent/mx3",
	} {
		if rec.has(k) {
			t.Errorf("%s: notified while a flood alert fires on its host; notified: %q", k, rec.keys())
		}
	}

	// Alertmanager's own view: the held-back alerts name their inhibitor.
	resp, err := http.Get(am + "/api/v2/alerts")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var alerts []struct {
		Labels map[string]string `json:"labels"`
		Status struct {
			InhibitedBy []string `json:"inhibitedBy"`
		} `json:"status"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&alerts); err != nil {
		t.Fatal(err)
	}
	inhibited := map[string]bool{}
	for _, al := range alerts {
		if len(al.Status.InhibitedBy) > 0 {
			inhibited[al.Labels["alertname"]+"/"+al.Labels["host"]] = true
		}
	}
	wantInhibited := map[string]bool{"SynguardSynCookiesSent/mx1": true, "SynguardListenDrops/mx1": true, "SynguardSynCookiesSent/mx3": true}
	if fmt.Sprint(inhibited) != fmt.Sprint(wantInhibited) {
		t.Errorf("Alertmanager reports inhibited %v, want %v", inhibited, wantInhibited)
	}
}

func allSeen(r *recorder, keys []string) bool {
	for _, k := range keys {
		if !r.has(k) {
			return false
		}
	}
	return true
}
