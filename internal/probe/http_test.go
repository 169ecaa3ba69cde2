package probe

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestHTTPProber(t *testing.T) {
	cert := newTestCert(t)
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "all systems go") })
	mux.HandleFunc("/404", http.NotFound)
	mux.HandleFunc("/500", func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "boom", 500) })
	mux.HandleFunc("/redirect", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/ok", http.StatusFound) })
	mux.HandleFunc("/loop", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/loop", http.StatusFound) })
	mux.HandleFunc("/host", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, r.Host) })
	mux.HandleFunc("/silent", func(_ http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	mux.HandleFunc("/drip", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100")
		for i := 0; i < 100; i++ {
			if _, err := w.Write([]byte("x")); err != nil {
				return
			}
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
				return
			case <-time.After(time.Second):
			}
		}
	})
	plain := httptest.NewServer(mux)
	t.Cleanup(plain.Close)
	tlsSrv := httptest.NewUnstartedServer(mux)
	tlsSrv.TLS = cert.serverConfig()
	tlsSrv.StartTLS()
	t.Cleanup(tlsSrv.Close)
	ca := "tls_config: {ca_file: " + cert.caFile + "}\n"
	// A server that answers with something that is not HTTP.
	garbage := serve(t, func(c net.Conn) { c.Write([]byte("SSH-2.0-OpenSSH\r\n")) })
	refused := refusedAddr(t)

	tests := []struct {
		name, module, target string
		wantOK               bool
		wantErr              string
		wantExpiry           bool
	}{
		{name: "200", module: "prober: http\n", target: plain.URL + "/ok", wantOK: true},
		{name: "404", module: "prober: http\n", target: plain.URL + "/404", wantErr: "status 404 (Not Found) not in valid_status_codes"},
		{name: "404 accepted", module: "prober: http\nhttp: {valid_status_codes: [\"4xx\"]}\n", target: plain.URL + "/404", wantOK: true},
		{name: "500", module: "prober: http\nhttp: {valid_status_codes: [200-399]}\n", target: plain.URL + "/500", wantErr: "status 500"},
		{name: "body matches", module: "prober: http\nhttp: {body_regexp: 'systems? go'}\n", target: plain.URL + "/ok", wantOK: true},
		{name: "body does not match", module: "prober: http\nhttp: {body_regexp: maintenance}\n", target: plain.URL + "/ok", wantErr: `body does not match "maintenance"`},
		{name: "host header", module: "prober: http\nhttp: {headers: {Host: www.example.org}, body_regexp: '^www\\.example\\.org$'}\n", target: plain.URL + "/host", wantOK: true},
		{name: "redirect followed", module: "prober: http\nhttp: {body_regexp: go}\n", target: plain.URL + "/redirect", wantOK: true},
		{name: "redirect not followed", module: "prober: http\nhttp: {follow_redirects: false}\n", target: plain.URL + "/redirect", wantErr: "status 302"},
		{name: "redirect as success", module: "prober: http\nhttp: {follow_redirects: false, valid_status_codes: [302]}\n", target: plain.URL + "/redirect", wantOK: true},
		{name: "redirect loop", module: "prober: http\n", target: plain.URL + "/loop", wantErr: "stopped after 10 redirects"},
		{name: "https verified", module: "prober: http\n" + ca, target: tlsSrv.URL + "/ok", wantOK: true, wantExpiry: true},
		{name: "https untrusted", module: "prober: http\n", target: tlsSrv.URL + "/ok", wantErr: "certificate"},
		{name: "https insecure", module: "prober: http\ntls_config: {insecure_skip_verify: true}\n", target: tlsSrv.URL + "/ok", wantOK: true, wantExpiry: true},
		{name: "https to plain port", module: "prober: http\n", target: strings.Replace(plain.URL, "http:", "https:", 1) + "/ok", wantErr: "http request"},
		{name: "refused", module: "prober: http\n", target: "http://" + refused + "/", wantErr: "connection refused"},
		{name: "silent", module: "prober: http\ntimeout: 1s\n", target: plain.URL + "/silent", wantErr: "deadline exceeded"},
		{name: "silent tcp", module: "prober: http\ntimeout: 1s\n", target: "http://" + serve(t, silent) + "/", wantErr: "deadline exceeded"},
		{name: "drip", module: "prober: http\ntimeout: 2s\n", target: plain.URL + "/drip", wantErr: "deadline exceeded"},
		{name: "garbage", module: "prober: http\n", target: "http://" + garbage + "/", wantErr: "malformed HTTP"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m := module(t, tt.module)
			r := probe(t, m, tt.target)
			if r.Success != tt.wantOK {
				t.Fatalf("success = %v, want %v (err: %v)", r.Success, tt.wantOK, r.Err)
			}
			if tt.wantErr != "" && (r.Err == nil || !strings.Contains(r.Err.Error(), tt.wantErr)) {
				t.Fatalf("err = %v, want it to contain %q", r.Err, tt.wantErr)
			}
			if tt.wantExpiry && !r.CertExpiry.Equal(cert.notAfter) {
				t.Errorf("cert expiry = %v, want %v", r.CertExpiry, cert.notAfter)
			}
			if r.Success {
				phases := map[string]bool{}
				for _, p := range r.Phases {
					phases[p.Phase] = true
				}
				for _, p := range []string{PhaseResolve, PhaseConnect, PhaseProcessing, PhaseTransfer} {
					if !phases[p] {
						t.Errorf("phase %s missing from %v", p, r.Phases)
					}
				}
				if tt.wantExpiry && !phases[PhaseTLS] {
					t.Errorf("phase tls missing from %v", r.Phases)
				}
			}
		})
	}
}
