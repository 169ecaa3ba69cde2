package statuspage

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func testSnapshot() Snapshot {
	t0 := time.Date(2026, 11, 26, 23, 0, 0, 0, time.UTC)
	return Snapshot{
		Now:     t0,
		Host:    "victim1",
		Backend: Backend{Name: "firewalld", Mode: "ipset", Where: "zone drop", Up: true, LastReconcile: t0.Add(-5 * time.Second)},
		Blocks: []Block{{
			Prefix: "198.51.100.32/27", Family: "ipv4", Origin: "AS64500 Example, ZZ",
			Since: t0.Add(-time.Minute), Expiry: t0.Add(9 * time.Minute), Offences: 1, Applied: true,
			Alert: "SynguardPrefixFlooding",
		}},
		Refusals: []Event{{Time: t0, Action: "block", Prefix: "0.0.0.0/0", Result: "prefix_too_short"}},
	}
}

func newServer(t *testing.T, s Snapshot) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	New(SourceFunc(func() Snapshot { return s }), time.Second).Register(mux, "/status")
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func get(t *testing.T, url string) (string, http.Header) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s: %s", url, resp.Status, b)
	}
	return string(b), resp.Header
}

func TestJSONRoundTrip(t *testing.T) {
	want := testSnapshot()
	srv := newServer(t, want)
	body, hdr := get(t, srv.URL+"/status.json")
	if ct := hdr.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	var got Snapshot
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatal(err)
	}
	want.Actions = []Event{} // nil becomes an empty list on the wire
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("unexpected snapshot (-want +got):\n%s", diff)
	}
	if !strings.Contains(body, `"actions": []`) {
		t.Errorf("nil actions not served as an empty list:\n%s", body)
	}
}

func TestPageEmbedsSnapshot(t *testing.T) {
	srv := newServer(t, testSnapshot())
	body, hdr := get(t, srv.URL+"/status")
	if ct := hdr.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Errorf("Content-Type %q", ct)
	}
	for _, want := range []string{`"198\.51\.100\.32/27"`, `const jsonURL = "status\.json"`, `const refreshMS = +1000 *;`, `fetch\(jsonURL`} {
		if !regexp.MustCompile(want).MatchString(body) {
			t.Errorf("page lacks %s", want)
		}
	}
	// Nothing loaded from elsewhere: a responder usually has no Internet.
	for _, bad := range []string{"http://", "https://", "src="} {
		if strings.Contains(body, bad) {
			t.Errorf("page refers to an external resource (%q)", bad)
		}
	}
}

func TestPageEscapesScriptEnd(t *testing.T) {
	s := testSnapshot()
	s.Blocks[0].Reason = "</script><script>alert(1)</script>"
	srv := newServer(t, s)
	body, _ := get(t, srv.URL+"/status")
	if strings.Count(body, "</script>") != 1 {
		t.Errorf("a label closed the page's script early:\n%s", body)
	}
}

func TestRecentBounded(t *testing.T) {
	r := NewRecent(3)
	for i, p := range []string{"a", "b", "c", "d"} {
		r.Add(Event{Time: time.Unix(int64(i), 0), Prefix: p})
	}
	var got []string
	for _, e := range r.List() {
		got = append(got, e.Prefix)
	}
	if diff := cmp.Diff([]string{"d", "c", "b"}, got); diff != "" {
		t.Errorf("unexpected events (-want +got):\n%s", diff)
	}
}
