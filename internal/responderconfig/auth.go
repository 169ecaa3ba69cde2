package responderconfig

import (
	"fmt"
	"os"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/synguard/synguard/internal/configfile"
)

// The mutating routes, by the names insecure_open_routes takes.
const (
	// RouteWebhook is POST /webhook, authenticated by webhook.bearer_token_file.
	RouteWebhook = "webhook"
	// RouteAPI is POST and DELETE on /api/v1/blocks and /api/v1/pause,
	// authenticated by api.bearer_token_file.
	RouteAPI = "api"
	// RouteReload is POST /-/reload (with --web.enable-lifecycle), which
	// takes the API's token: whoever may change blocks may reload.
	RouteReload = "reload"
)

// routes lists the names insecure_open_routes accepts.
var routes = []string{RouteWebhook, RouteAPI, RouteReload}

// Serving is what the command line says about how the routes are served,
// which decides whether each needs a token of its own.
type Serving struct {
	// WebConfigFile is --web.config.file (exporter-toolkit's web
	// configuration): with tls_server_config.client_auth_type
	// RequireAndVerifyClientCert no client reaches any route without a
	// certificate of the configured CA, which authenticates every route.
	WebConfigFile string
	// Lifecycle is --web.enable-lifecycle: POST /-/reload is served and is
	// a mutating route; without it the route answers 403 and needs nothing.
	Lifecycle bool
}

func validRoutes(names []string) error {
	for _, n := range names {
		if !slices.Contains(routes, n) {
			return fmt.Errorf("insecure_open_routes: %q is not a route (known: %s)", n, strings.Join(routes, ", "))
		}
	}
	return nil
}

// checkAuth refuses a mutating route served without a bearer token and
// without required client certificates, unless insecure_open_routes opens
// it; it fills OpenRoutes with those opened. root is the file's YAML (nil
// without a file), for the line an error names.
func (c *Config) checkAuth(root *yaml.Node, s Serving) error {
	certs, err := ClientCertsRequired(s.WebConfigFile)
	if err != nil {
		return configfile.Errorf(nil, "%v", err)
	}
	c.OpenRoutes = nil
	if certs {
		return nil
	}
	type route struct {
		name, section, token string
		mutates              bool
		what, fix            string
	}
	for _, r := range []route{
		{RouteWebhook, "webhook", c.WebhookToken, true, "POST /webhook (anyone who reaches it could block any range)",
			"set webhook.bearer_token_file (and give Alertmanager the same file: http_config.authorization.credentials_file)"},
		{RouteAPI, "api", c.APIToken, !c.API.ReadOnly, "POST/DELETE /api/v1/blocks and /api/v1/pause (anyone who reaches them could block, unblock or pause)",
			"set api.bearer_token_file (or api.read_only: true)"},
		{RouteReload, "api", c.APIToken, s.Lifecycle, "POST /-/reload (--web.enable-lifecycle; it takes the API's token)",
			"set api.bearer_token_file (or drop --web.enable-lifecycle and reload with SIGHUP)"},
	} {
		if !r.mutates || r.token != "" {
			continue
		}
		if slices.Contains(c.InsecureOpenRoutes, r.name) {
			c.OpenRoutes = append(c.OpenRoutes, r.name)
			continue
		}
		var at *yaml.Node
		if root != nil {
			at = sectionKey(root, r.section)
		}
		return configfile.Errorf(at, "%s has no authentication: %s; or require client certificates in --web.config.file "+
			"(tls_server_config.client_auth_type: RequireAndVerifyClientCert); or, knowingly, open it: insecure_open_routes: [%s]",
			r.what, r.fix, r.name)
	}
	return nil
}

// ClientCertsRequired reports whether the exporter-toolkit web
// configuration at path ("" for none) makes every client present a
// certificate the server verifies (client_auth_type
// RequireAndVerifyClientCert). The rest of the file is exporter-toolkit's
// to validate when it serves.
func ClientCertsRequired(path string) (bool, error) {
	if path == "" {
		return false, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return false, fmt.Errorf("read --web.config.file: %w", err)
	}
	var wc struct {
		TLS struct {
			ClientAuth string `yaml:"client_auth_type"`
		} `yaml:"tls_server_config"`
	}
	if err := yaml.Unmarshal(b, &wc); err != nil {
		return false, fmt.Errorf("parse --web.config.file %s: %w", path, err)
	}
	return wc.TLS.ClientAuth == "RequireAndVerifyClientCert", nil
}
