package main

import (
	"fmt"
	"path/filepath"
)

// tlsPaths says where the lab's PKI (internal/lab/labpki) is and whose
// certificate a derived config presents; a shipped example's paths under
// /etc are replaced by these.
type tlsPaths struct{ pki, client, server, token string }

// clientTLS points every tls_config under v at the PKI: its CA, and the
// client certificate of t.client. An example without any tls_config is an
// error: the lab would silently run without the TLS it is meant to test.
func (t tlsPaths) clientTLS(v any) error {
	if t.client == "" {
		return fmt.Errorf("-pki needs -client")
	}
	n := 0
	walk(v, func(m map[string]any) {
		tc, ok := m["tls_config"].(map[string]any)
		if !ok {
			return
		}
		tc["ca_file"] = filepath.Join(t.pki, "ca.crt")
		tc["cert_file"] = filepath.Join(t.pki, t.client+".crt")
		tc["key_file"] = filepath.Join(t.pki, t.client+".key")
		n++
	})
	if n == 0 {
		return fmt.Errorf("-pki given, but the example has no tls_config")
	}
	return nil
}

// tokenFile sets every authorization's credentials_file to t.token, or
// removes the authorization when the lab runs without a token.
func (t tlsPaths) tokenFile(v any) error {
	walk(v, func(m map[string]any) {
		a, ok := m["authorization"].(map[string]any)
		if !ok {
			return
		}
		if t.token == "" {
			delete(m, "authorization")
			return
		}
		a["credentials_file"] = t.token
	})
	return nil
}

// serverTLS points an exporter-toolkit web config's tls_server_config at
// the PKI: t.server's certificate and key, and the CA that verifies the
// clients. client_auth_type and client_allowed_sans stay as shipped (the
// lab's client certificates carry the example's names).
func (t tlsPaths) serverTLS(cfg map[string]any) error {
	if t.pki == "" || t.server == "" {
		return fmt.Errorf("webconfig needs -pki and -server")
	}
	tc, ok := cfg["tls_server_config"].(map[string]any)
	if !ok {
		return fmt.Errorf("no tls_server_config")
	}
	for _, k := range []string{"cert_file", "key_file", "client_ca_file"} {
		if _, ok := tc[k]; !ok {
			return fmt.Errorf("tls_server_config has no %s", k)
		}
	}
	tc["cert_file"] = filepath.Join(t.pki, t.server+".crt")
	tc["key_file"] = filepath.Join(t.pki, t.server+".key")
	tc["client_ca_file"] = filepath.Join(t.pki, "ca.crt")
	return nil
}

// walk calls f on every map under v (v included), depth first.
func walk(v any, f func(map[string]any)) {
	switch x := v.(type) {
	case map[string]any:
		f(x)
		for _, e := range x {
			walk(e, f)
		}
	case []any:
		for _, e := range x {
			walk(e, f)
		}
	}
}
