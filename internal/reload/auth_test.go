package reload

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
)

// TestRequireBearer: without the token, or with a wrong one, POST
// /-/reload is 401 and nothing reloads; with it, the reload runs; a token
// changed by a reload is the one asked for next; an empty token checks
// nothing.
func TestRequireBearer(t *testing.T) {
	var reloads atomic.Int32
	r := New(slog.New(slog.NewTextHandler(io.Discard, nil)), "test", func() error { reloads.Add(1); return nil })
	var tok atomic.Value
	tok.Store("first")
	srv := httptest.NewServer(RequireBearer(func() string { return tok.Load().(string) }, r))
	defer srv.Close()
	post := func(auth string) int {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, srv.URL, nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusUnauthorized && resp.Header.Get("WWW-Authenticate") == "" {
			t.Fatal("401 without WWW-Authenticate")
		}
		return resp.StatusCode
	}
	for _, tt := range []struct {
		what, auth string
		want       int32
		code       int
	}{
		{"no token", "", 0, 401},
		{"wrong token", "Bearer second", 0, 401},
		{"basic, not bearer", "Basic Zmlyc3Q=", 0, 401},
		{"the token", "Bearer first", 1, 200},
	} {
		if code := post(tt.auth); code != tt.code || reloads.Load() != tt.want {
			t.Fatalf("%s: %d, %d reloads; want %d, %d", tt.what, code, reloads.Load(), tt.code, tt.want)
		}
	}
	tok.Store("second")
	if code := post("Bearer first"); code != 401 {
		t.Fatalf("the old token after a change: %d", code)
	}
	if code := post("Bearer second"); code != 200 {
		t.Fatalf("the new token: %d", code)
	}
	tok.Store("")
	if code := post(""); code != 200 || reloads.Load() != 3 {
		t.Fatalf("no token configured: %d, %d reloads", code, reloads.Load())
	}
}
