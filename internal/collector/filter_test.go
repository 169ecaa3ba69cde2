package collector

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

var known = []string{"exporter", "probe", "syn_recv", "tcpext"}

func TestSelect(t *testing.T) {
	for _, tc := range []struct {
		query string
		want  []string
		err   string
	}{
		{query: "", want: known},
		{query: "collect[]=syn_recv", want: []string{"syn_recv"}},
		{query: "collect[]=tcpext&collect[]=syn_recv", want: []string{"syn_recv", "tcpext"}},
		{query: "collect[]=syn_recv&collect[]=syn_recv", want: []string{"syn_recv"}},
		{query: "exclude[]=syn_recv", want: []string{"exporter", "probe", "tcpext"}},
		{query: "exclude[]=syn_recv&exclude[]=syn_recv&exclude[]=probe", want: []string{"exporter", "tcpext"}},
		{query: "exclude[]=exporter&exclude[]=probe&exclude[]=syn_recv&exclude[]=tcpext", want: []string{}},
		// Other parameters are not the filter's.
		{query: "module=http_2xx", want: known},
		{query: "collect[]=syn-recv", err: `unknown collector "syn-recv" in collect[]; known collectors: exporter, probe, syn_recv, tcpext`},
		{query: "collect[]=syn_recv&collect[]=netstat", err: `unknown collector "netstat" in collect[]`},
		{query: "exclude[]=SYN_RECV", err: `unknown collector "SYN_RECV" in exclude[]; known collectors: exporter, probe, syn_recv, tcpext`},
		{query: "collect[]=", err: `unknown collector "" in collect[]`},
		{query: "exclude[]=", err: `unknown collector "" in exclude[]`},
		{query: "collect[]=syn_recv&exclude[]=probe", err: "collect[] and exclude[] together"},
	} {
		q, err := url.ParseQuery(tc.query)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Select(q, known)
		switch {
		case tc.err != "":
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("?%s: %v, %v; want error %q", tc.query, got, err, tc.err)
			}
		case err != nil:
			t.Errorf("?%s: %v", tc.query, err)
		case !slices.Equal(got, tc.want):
			t.Errorf("?%s: %v, want %v", tc.query, got, tc.want)
		}
	}
}

// countingCollector counts its runs, to see which collectors a scrape ran.
type countingCollector struct {
	desc *prometheus.Desc
	runs *int
}

func (c countingCollector) Update(ch chan<- prometheus.Metric) error {
	*c.runs++
	ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, 1)
	return nil
}

func newTestHandler(t *testing.T) (*Handler, map[string]*int, *int) {
	t.Helper()
	set := NewSet(slog.New(slog.DiscardHandler))
	runs := map[string]*int{}
	for _, n := range []string{"syn_recv", "tcpext", "probe"} {
		runs[n] = new(int)
		set.Add(n, countingCollector{desc: prometheus.NewDesc("test_"+n, "A value.", nil, nil), runs: runs[n]})
	}
	self := prometheus.NewRegistry()
	self.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "test_build_info", Help: "Build."}, func() float64 { return 1 }))
	built := 0
	h := NewHandler(set, self, func(g prometheus.Gatherer) http.Handler {
		built++
		return promhttp.HandlerFor(g, promhttp.HandlerOpts{})
	})
	return h, runs, &built
}

func scrape(t *testing.T, h http.Handler, query string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics?"+query, nil))
	body, _ := io.ReadAll(rec.Body)
	return rec.Code, string(body)
}

func TestHandler(t *testing.T) {
	h, runs, built := newTestHandler(t)
	if got := h.Known(); !slices.Equal(got, known) {
		t.Fatalf("Known() = %v", got)
	}
	code, body := scrape(t, h, "collect[]=syn_recv")
	if code != 200 || !strings.Contains(body, "test_syn_recv 1") || !strings.Contains(body, `synguard_scrape_collector_success{collector="syn_recv"} 1`) {
		t.Fatalf("collect[]=syn_recv: %d\n%s", code, body)
	}
	for _, absent := range []string{"test_tcpext", "test_probe", "test_build_info", `collector="tcpext"`} {
		if strings.Contains(body, absent) {
			t.Errorf("collect[]=syn_recv served %s:\n%s", absent, body)
		}
	}
	if *runs["tcpext"] != 0 || *runs["probe"] != 0 || *runs["syn_recv"] != 1 {
		t.Errorf("runs after collect[]=syn_recv: syn_recv %d, tcpext %d, probe %d", *runs["syn_recv"], *runs["tcpext"], *runs["probe"])
	}

	_, body = scrape(t, h, "exclude[]=syn_recv")
	if strings.Contains(body, "test_syn_recv") || !strings.Contains(body, "test_tcpext 1") || !strings.Contains(body, "test_build_info 1") {
		t.Errorf("exclude[]=syn_recv:\n%s", body)
	}
	_, body = scrape(t, h, "")
	for _, want := range []string{"test_syn_recv 1", "test_tcpext 1", "test_probe 1", "test_build_info 1"} {
		if !strings.Contains(body, want) {
			t.Errorf("unfiltered lacks %s:\n%s", want, body)
		}
	}

	// One handler per distinct selection, however it is spelled: the
	// scrapes above, then the same selections again.
	if *built != 3 {
		t.Errorf("%d handlers built for 3 selections", *built)
	}
	scrape(t, h, "collect[]=syn_recv&collect[]=syn_recv")
	scrape(t, h, "exclude[]=syn_recv")
	scrape(t, h, "collect[]=exporter&collect[]=probe&collect[]=syn_recv&collect[]=tcpext")
	if *built != 3 {
		t.Errorf("%d handlers built after repeats, want still 3", *built)
	}

	code, body = scrape(t, h, "collect[]=synrecv")
	if code != http.StatusBadRequest || !strings.Contains(body, `unknown collector "synrecv" in collect[]; known collectors: exporter, probe, syn_recv, tcpext`) {
		t.Errorf("collect[]=synrecv: %d %q", code, body)
	}
}

// The cache holds at most maxCached selections; past it a selection's
// handler is built for its request and still served.
func TestHandlerCacheBound(t *testing.T) {
	set := NewSet(slog.New(slog.DiscardHandler))
	var names []string
	for i := range 8 {
		n := string(rune('a' + i))
		names = append(names, n)
		set.Add(n, fakeCollector{desc: prometheus.NewDesc("test_"+n, "A value.", nil, nil)})
	}
	h := NewHandler(set, prometheus.NewRegistry(), func(g prometheus.Gatherer) http.Handler {
		return promhttp.HandlerFor(g, promhttp.HandlerOpts{})
	})
	// 2^8 = 256 distinct selections (collect[] of each subset but the empty one).
	for mask := 1; mask < 1<<len(names); mask++ {
		q := url.Values{}
		for i, n := range names {
			if mask&(1<<i) != 0 {
				q.Add(ParamCollect, n)
			}
		}
		code, body := scrape(t, h, q.Encode())
		if code != 200 || strings.Count(body, "synguard_scrape_collector_success{") != strings.Count(q.Encode(), "collect") {
			t.Fatalf("?%s: %d\n%s", q.Encode(), code, body)
		}
	}
	if n := len(h.cache); n != maxCached {
		t.Errorf("%d cached handlers, want the bound %d", n, maxCached)
	}
}

func TestHandlerReservedName(t *testing.T) {
	set := NewSet(slog.New(slog.DiscardHandler))
	set.Add(SelfName, fakeCollector{err: errors.New("x")})
	defer func() {
		if recover() == nil {
			t.Error("a collector named exporter was accepted")
		}
	}()
	NewHandler(set, prometheus.NewRegistry(), func(prometheus.Gatherer) http.Handler { return nil })
}

func TestSubset(t *testing.T) {
	var logs bytes.Buffer
	s := NewSet(slog.New(slog.NewTextHandler(&logs, nil)))
	s.Add("b", fakeCollector{desc: prometheus.NewDesc("test_b", "B.", nil, nil)})
	s.Add("a", fakeCollector{desc: prometheus.NewDesc("test_a", "A.", nil, nil)})
	if got := s.Names(); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("Names() = %v", got)
	}
	if got := s.Subset([]string{"b", "zzz"}).Names(); !slices.Equal(got, []string{"b"}) {
		t.Errorf("Subset(b, zzz).Names() = %v", got)
	}
}
