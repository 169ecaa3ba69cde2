package operatorapi

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/synguard/synguard/internal/blocks"
	"github.com/synguard/synguard/internal/blockstore"
	"github.com/synguard/synguard/internal/policy"
)

// fakeEngine is a function-field fake of Engine.
type fakeEngine struct {
	StatusFn  func() blocks.Status
	BlockFn   func(p netip.Prefix, d time.Duration, reason string) (blockstore.Block, bool, error)
	UnblockFn func(p netip.Prefix) (blockstore.Block, error)
	paused    bool
}

func (f *fakeEngine) Status() blocks.Status {
	var s blocks.Status
	if f.StatusFn != nil {
		s = f.StatusFn()
	}
	s.Paused = f.paused
	return s
}

func (f *fakeEngine) Block(_ context.Context, p netip.Prefix, d time.Duration, reason string) (blockstore.Block, bool, error) {
	return f.BlockFn(p, d, reason)
}

func (f *fakeEngine) Unblock(_ context.Context, p netip.Prefix) (blockstore.Block, error) {
	return f.UnblockFn(p)
}

func (f *fakeEngine) SetPaused(p bool) error      { f.paused = p; return nil }
func (f *fakeEngine) Flush(context.Context) error { return nil }

func do(t *testing.T, h http.Handler, method, path, ct, body string, hdr ...string) (int, string) {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	b, _ := io.ReadAll(rec.Result().Body)
	return rec.Code, string(b)
}

func TestAPI(t *testing.T) {
	since := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	p := netip.MustParsePrefix("198.51.100.32/27")
	f := &fakeEngine{
		StatusFn: func() blocks.Status {
			return blocks.Status{Backend: blocks.Backend{Name: "firewalld", Up: true}, Blocks: []blockstore.Block{{Prefix: p, Source: "alert", Alert: "SynFloodPrefix", Since: since, Expiry: since.Add(time.Hour), Offences: 2, Active: true}},
				Pending: map[netip.Prefix]bool{},
				Waiting: []blocks.Waiting{{Prefix: netip.MustParsePrefix("203.0.113.64/27"), Alert: "SynFloodPrefix", Since: since, Reason: policy.ReasonRateLimited}}}
		},
		BlockFn: func(q netip.Prefix, d time.Duration, reason string) (blockstore.Block, bool, error) {
			if q.Bits() < 24 {
				return blockstore.Block{}, false, &blocks.ErrRefused{Reason: policy.ReasonTooBroad}
			}
			if d != 2*time.Hour || reason != "netstat" {
				return blockstore.Block{}, false, errors.New("duration or reason lost")
			}
			return blockstore.Block{Prefix: q, Since: since, Expiry: since.Add(d), Offences: 1}, true, nil
		},
		UnblockFn: func(q netip.Prefix) (blockstore.Block, error) {
			if q != p {
				return blockstore.Block{}, blocks.ErrNotBlocked
			}
			return blockstore.Block{Prefix: q, Offences: 2}, nil
		},
	}
	a := New(f, Options{Token: "t0ken"}, slog.New(slog.DiscardHandler))
	mux := http.NewServeMux()
	a.Register(mux)
	auth := []string{"Authorization", "Bearer t0ken"}

	code, body := do(t, mux, "GET", "/api/v1/blocks", "", "")
	for _, want := range []string{`"prefix": "198.51.100.32/27"`, `"family": "ipv4"`, `"alert": "SynFloodPrefix"`, `"origin": null`,
		`"since": "2026-11-26T12:00:00Z"`, `"expiry": "2026-11-26T13:00:00Z"`, `"offences": 2`, `"applied": true`, `"backend": "firewalld"`, `"backend_up": true`,
		`"waiting": [`, `"waits_for": "rate_limited"`, `"prefix": "203.0.113.64/27"`} {
		if code != 200 || !strings.Contains(body, want) {
			t.Fatalf("GET blocks: %d, %s lacks %s", code, body, want)
		}
	}
	tests := []struct {
		name, method, path, ct, body string
		hdr                          []string
		code                         int
		want                         string
	}{
		{"no token", "POST", "/api/v1/blocks", "application/json", `{"prefix":"203.0.113.0/27"}`, nil, 401, "bearer"},
		{"cross-site page", "POST", "/api/v1/pause", "", "", append([]string{"Origin", "http://evil.example", "Sec-Fetch-Site", "cross-site"}, auth...), 403, "cross-origin"},
		{"cross-origin unblock", "DELETE", "/api/v1/blocks/198.51.100.32/27", "", "", append([]string{"Origin", "http://evil.example"}, auth...), 403, "cross-origin"},
		{"form", "POST", "/api/v1/blocks", "application/x-www-form-urlencoded", `prefix=203.0.113.0/27`, auth, 415, "JSON"},
		{"bad json", "POST", "/api/v1/blocks", "application/json", `{"prefix":`, auth, 400, "malformed"},
		{"bad prefix", "POST", "/api/v1/blocks", "application/json", `{"prefix":"x"}`, auth, 400, "parse prefix"},
		{"bad duration", "POST", "/api/v1/blocks", "application/json", `{"prefix":"203.0.113.0/27","duration":"soon"}`, auth, 400, "duration"},
		{"refused", "POST", "/api/v1/blocks", "application/json", `{"prefix":"10.0.0.0/8"}`, auth, 422, "too_broad"},
		{"created", "POST", "/api/v1/blocks", "application/json; charset=utf-8", `{"prefix":"203.0.113.7/27","duration":"2h","reason":"netstat"}`, auth, 201, `"prefix": "203.0.113.0/27"`},
		{"unblock", "DELETE", "/api/v1/blocks/198.51.100.32/27", "", "", auth, 200, `"offences": 2`},
		{"unblock unknown", "DELETE", "/api/v1/blocks/203.0.113.0/27", "", "", auth, 404, "not blocked"},
		{"unblock garbage", "DELETE", "/api/v1/blocks/nope", "", "", auth, 400, "parse prefix"},
		{"pause", "POST", "/api/v1/pause", "", "", auth, 200, `"paused": true`},
		{"paused state", "GET", "/api/v1/pause", "", "", nil, 200, `"paused": true`},
		{"resume", "DELETE", "/api/v1/pause", "", "", auth, 200, `"paused": false`},
	}
	for _, tt := range tests {
		code, body := do(t, mux, tt.method, tt.path, tt.ct, tt.body, tt.hdr...)
		if code != tt.code || !strings.Contains(body, tt.want) {
			t.Errorf("%s: %d %s, want %d with %q", tt.name, code, body, tt.code, tt.want)
		}
	}
	a.SetOptions(Options{ReadOnly: true})
	if code, _ := do(t, mux, "DELETE", "/api/v1/blocks/198.51.100.32/27", "", ""); code != 403 {
		t.Fatalf("read-only API: %d", code)
	}
}
