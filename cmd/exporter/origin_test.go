package main

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/maxmind/mmdbwriter/mmdbtype"

	"github.com/synguard/synguard/internal/daemontest"
	"github.com/synguard/synguard/internal/origin/origintest"
)

// TestOrigin covers issue 7's exporter side: each prefix with its own
// series gets an origin info series, a database replaced on disk is picked
// up by a reload, and a broken one is refused while the loaded one stays.
func TestOrigin(t *testing.T) {
	dir := t.TempDir()
	asn, country, err := origintest.Fixtures(dir)
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "exporter.yml")
	if err := os.WriteFile(cfg, []byte("origin:\n  asn_database: "+asn+"\n  country_database: "+country+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	e := startExporter(t, "--path.procfs=testdata/proc", "--collector.syn-recv.source=procfs", "--config.file="+cfg, "--web.enable-lifecycle")
	flood := `synguard_syn_recv_prefix_origin_info{as_org="Example Flood Net",asn="64496",country="ZZ",family="ipv4",prefix="203.0.113.32/27"} 1`
	if m := e.Get(t, "/metrics"); !strings.Contains(m, flood) {
		t.Fatalf("metrics lack %s", flood)
	}
	reload := func() int {
		resp, err := http.Post(e.URL+"/-/reload", "", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}

	// A broken database file: the reload fails and the old answers stay.
	if err := os.WriteFile(asn, []byte("truncated"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code := reload(); code == http.StatusOK {
		t.Fatal("reload with a broken ASN database succeeded")
	}
	if m := e.Get(t, "/metrics"); !strings.Contains(m, flood) {
		t.Fatal("a failed reload lost the loaded origin")
	}

	// A new database version: the /27 moved to another AS.
	if err := origintest.WriteDB(asn, "GeoLite2-ASN", map[string]mmdbtype.Map{
		"203.0.113.0/24": origintest.ASN(64499, "Example New Owner"),
	}); err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(time.Minute)
	if err := os.Chtimes(asn, later, later); err != nil {
		t.Fatal(err)
	}
	if code := reload(); code != http.StatusOK {
		t.Fatalf("reload with a new database: %d", code)
	}
	moved := `synguard_syn_recv_prefix_origin_info{as_org="Example New Owner",asn="64499",country="ZZ",family="ipv4",prefix="203.0.113.32/27"} 1`
	if m := e.Get(t, "/metrics"); !strings.Contains(m, moved) {
		t.Fatalf("after reload metrics lack %s", moved)
	}
}

// TestOriginMissingDatabase: a configured database that is not there
// refuses to start, rather than silently publishing no origin.
func TestOriginMissingDatabase(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "exporter.yml")
	if err := os.WriteFile(cfg, []byte("origin:\n  asn_database: "+filepath.Join(dir, "nope.mmdb")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	logs := &daemontest.Buffer{}
	m := NewMain(os.Stdout, logs)
	if code := m.Main(t.Context(), []string{"--path.procfs=testdata/proc", "--collector.syn-recv.source=procfs", "--config.file=" + cfg, "--web.listen-address=127.0.0.1:0"}); code == 0 {
		t.Fatal("exporter started with a missing origin database")
	}
	if !strings.Contains(logs.String(), "nope.mmdb") {
		t.Errorf("log does not name the missing file:\n%s", logs)
	}
}
