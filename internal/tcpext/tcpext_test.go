package tcpext

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// procWithNetstat makes a procfs tree whose self/net/netstat holds s.
func procWithNetstat(t *testing.T, s string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "7", "net"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("7", filepath.Join(dir, "self")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "7", "net", "netstat"), []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func update(t *testing.T, proc string) (map[string]float64, error) {
	t.Helper()
	c, err := New(proc)
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan prometheus.Metric, 10)
	err = c.Update(ch)
	close(ch)
	got := map[string]float64{}
	for m := range ch {
		var d dto.Metric
		if err := m.Write(&d); err != nil {
			t.Fatal(err)
		}
		name := m.Desc().String()
		name = name[strings.Index(name, `"`)+1:]
		name = name[:strings.Index(name, `"`)]
		got[name] = d.GetCounter().GetValue()
	}
	return got, err
}

func TestUpdate(t *testing.T) {
	proc := procWithNetstat(t, "TcpExt: SyncookiesSent SyncookiesRecv ListenOverflows ListenDrops\nTcpExt: 5 1 7 9\nIpExt: InNoRoutes\nIpExt: 0\n")
	got, err := update(t, proc)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{
		"synguard_tcp_syncookies_sent_total":  5,
		"synguard_tcp_listen_overflows_total": 7,
		"synguard_tcp_listen_drops_total":     9,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
}

func TestUpdateErrors(t *testing.T) {
	for name, content := range map[string]string{
		"missing counter": "TcpExt: SyncookiesSent ListenOverflows\nTcpExt: 5 7\n",
		"field mismatch":  "TcpExt: SyncookiesSent ListenOverflows ListenDrops\nTcpExt: 5 7\n",
	} {
		t.Run(name, func(t *testing.T) {
			got, err := update(t, procWithNetstat(t, content))
			if err == nil || !strings.Contains(err.Error(), "net/netstat") {
				t.Fatalf("error %v, want one naming net/netstat", err)
			}
			if len(got) != 0 {
				t.Errorf("sent %d metrics despite the error", len(got))
			}
		})
	}
	if _, err := update(t, t.TempDir()); err == nil {
		t.Error("missing netstat accepted")
	}
}
