package probe

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/synguard/synguard/internal/configfile"
)

// BenchmarkProbePOP3 is one pop3 dialogue probe (connect, banner, QUIT) on loopback.
func BenchmarkProbePOP3(b *testing.B) {
	srv := &lineServer{banner: "+OK\r\n", replies: map[string]string{"QUIT": "+OK\r\n"}}
	addr := serve(b, srv.handle)
	m := module(b, "prober: pop3\n")
	p := &Prober{}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if r := p.Probe(context.Background(), "m", m, addr); !r.Success {
			b.Fatal(r.Err)
		}
	}
}

// BenchmarkProbeHTTP is one http probe (new connection each time, as in production).
func BenchmarkProbeHTTP(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") }))
	defer srv.Close()
	m := module(b, "prober: http\nhttp: {body_regexp: ok}\n")
	p := &Prober{}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if r := p.Probe(context.Background(), "m", m, srv.URL); !r.Success {
			b.Fatal(r.Err)
		}
	}
}

// BenchmarkCollect200 is one scrape of 200 targets' last results.
func BenchmarkCollect200(b *testing.B) {
	s := &Scheduler{states: map[targetKey]*TargetState{}}
	for i := 0; i < 200; i++ {
		tg := Target{Module: "pop3", Target: fmt.Sprintf("192.0.2.%d:110", i), Interval: configfile.Duration(time.Second)}
		s.cfg.Targets = append(s.cfg.Targets, tg)
		s.record(tg, Result{Module: tg.Module, Target: tg.Target, Start: time.Now(), Duration: time.Millisecond, Success: i%2 == 0,
			Phases: []PhaseDuration{{PhaseResolve, 1}, {PhaseConnect, 2}, {PhaseBanner, 3}, {PhaseDialogue, 4}}})
	}
	d := newDescs()
	ch := make(chan prometheus.Metric, 4096)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		d.emit(ch, s)
		for len(ch) > 0 {
			<-ch
		}
	}
}
