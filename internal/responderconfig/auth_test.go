package responderconfig

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestAuthRequired: a mutating route without a token, without client
// certificates and not opened by name refuses the load, naming the file,
// the line of its section and the fix.
func TestAuthRequired(t *testing.T) {
	dir := t.TempDir()
	tok := filepath.Join(dir, "tok")
	os.WriteFile(tok, []byte("s3cret\n"), 0o600)
	tests := []struct {
		name, yaml string
		s          Serving
		want       string
	}{
		{"webhook", "state_file: /x\nwebhook:\n  max_alerts: 10\napi:\n  bearer_token_file: " + tok + "\n",
			Serving{}, ":2: POST /webhook (anyone who reaches it could block any range) has no authentication: set webhook.bearer_token_file"},
		{"webhook section missing", "api:\n  bearer_token_file: " + tok + "\n", Serving{}, ":1: POST /webhook"},
		{"api", "webhook:\n  bearer_token_file: " + tok + "\napi:\n  read_only: false\n", Serving{}, ":3: POST/DELETE /api/v1/blocks"},
		{"reload", "webhook:\n  bearer_token_file: " + tok + "\napi:\n  read_only: true\n", Serving{Lifecycle: true}, ":3: POST /-/reload"},
		{"opened api leaves reload", "webhook:\n  bearer_token_file: " + tok + "\ninsecure_open_routes: [api]\n", Serving{Lifecycle: true}, ":1: POST /-/reload"},
		{"unknown route", "insecure_open_routes: [webhook, metrics]\n", Serving{}, `:1: insecure_open_routes: "metrics" is not a route (known: webhook, api, reload)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "_")+".yml")
			os.WriteFile(path, []byte(tt.yaml), 0o600)
			_, err := LoadFor(path, tt.s)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want %q", err, tt.want)
			}
			if !strings.HasPrefix(err.Error(), path+":") {
				t.Fatalf("error does not start with the file name: %v", err)
			}
			if tt.name != "unknown route" && !strings.Contains(err.Error(), "insecure_open_routes: [") || tt.name != "unknown route" && !strings.Contains(err.Error(), "RequireAndVerifyClientCert") {
				t.Fatalf("error does not say the fixes: %v", err)
			}
		})
	}
	if _, err := LoadFor("", Serving{}); err == nil || !strings.Contains(err.Error(), "(no --config.file: the defaults): POST /webhook") {
		t.Fatalf("the defaults: got %v, want a refusal", err)
	}
}

// TestAuthAllowed: tokens, client certificates, a read-only API, reload
// off, or a route opened by name each let the load through; OpenRoutes
// names exactly the routes served without authentication.
func TestAuthAllowed(t *testing.T) {
	dir := t.TempDir()
	tok := filepath.Join(dir, "tok")
	os.WriteFile(tok, []byte("s3cret\n"), 0o600)
	certs := filepath.Join(dir, "web.yml")
	os.WriteFile(certs, []byte("tls_server_config:\n  cert_file: a\n  key_file: b\n  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: c\n"), 0o600)
	ifGiven := filepath.Join(dir, "ifgiven.yml")
	os.WriteFile(ifGiven, []byte("tls_server_config:\n  client_auth_type: VerifyClientCertIfGiven\n"), 0o600)
	both := "webhook:\n  bearer_token_file: " + tok + "\napi:\n  bearer_token_file: " + tok + "\n"
	tests := []struct {
		name, yaml string
		s          Serving
		open       []string
	}{
		{"tokens", both, Serving{Lifecycle: true}, nil},
		{"client certificates", "", Serving{WebConfigFile: certs, Lifecycle: true}, nil},
		{"read-only API, no lifecycle", "webhook:\n  bearer_token_file: " + tok + "\napi:\n  read_only: true\n", Serving{}, nil},
		{"webhook opened", "api:\n  bearer_token_file: " + tok + "\ninsecure_open_routes: [webhook]\n", Serving{Lifecycle: true}, []string{"webhook"}},
		{"all opened", "insecure_open_routes: [webhook, api, reload]\n", Serving{Lifecycle: true, WebConfigFile: ifGiven}, []string{"webhook", "api", "reload"}},
		{"opened but with a token", both + "insecure_open_routes: [webhook]\n", Serving{}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "_")+".yml")
			os.WriteFile(path, []byte(tt.yaml), 0o600)
			c, err := LoadFor(path, tt.s)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(c.OpenRoutes, tt.open) {
				t.Fatalf("open routes %v, want %v", c.OpenRoutes, tt.open)
			}
		})
	}
	if _, err := LoadFor("", Serving{WebConfigFile: certs}); err != nil {
		t.Fatalf("the defaults with client certificates: %v", err)
	}
	if _, err := LoadFor("", Serving{WebConfigFile: filepath.Join(dir, "missing.yml")}); err == nil || !strings.Contains(err.Error(), "read --web.config.file") {
		t.Fatalf("a missing web config: got %v", err)
	}
}
