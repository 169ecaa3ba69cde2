package labpki

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"testing"
)

// TestWrite checks the issued chain the way the lab uses it: a server
// certificate verifies for its name and its IP, for server auth only; a
// client certificate verifies for client auth only; keys pair with their
// certificates and are private to their owner; no CA key is written.
func TestWrite(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pki")
	ip := net.ParseIP("203.0.113.9")
	err := Write(dir, Spec{Servers: []Server{{Name: "victim1", IP: ip}}, Clients: []string{"prometheus"}})
	if err != nil {
		t.Fatal(err)
	}
	caPEM, err := os.ReadFile(filepath.Join(dir, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		t.Fatal("ca.crt holds no certificate")
	}
	load := func(name string) *x509.Certificate {
		t.Helper()
		pair, err := tls.LoadX509KeyPair(filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key"))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		fi, err := os.Stat(filepath.Join(dir, name+".key"))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s.key has mode %v, want 0600", name, fi.Mode().Perm())
		}
		c, err := x509.ParseCertificate(pair.Certificate[0])
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	srv, cli := load("victim1"), load("prometheus")
	serverAuth := []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	clientAuth := []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	for _, name := range []string{"victim1", "203.0.113.9"} {
		if _, err := srv.Verify(x509.VerifyOptions{Roots: roots, DNSName: name, KeyUsages: serverAuth}); err != nil {
			t.Errorf("server certificate for %s: %v", name, err)
		}
	}
	if _, err := srv.Verify(x509.VerifyOptions{Roots: roots, DNSName: "victim2", KeyUsages: serverAuth}); err == nil {
		t.Error("victim1's certificate verifies for victim2")
	}
	if _, err := srv.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: clientAuth}); err == nil {
		t.Error("a server certificate verifies for client auth")
	}
	if _, err := cli.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: clientAuth}); err != nil {
		t.Errorf("client certificate: %v", err)
	}
	if len(cli.DNSNames) != 1 || cli.DNSNames[0] != "prometheus" {
		t.Errorf("client SANs %v, want [prometheus]", cli.DNSNames)
	}
	if _, err := cli.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: serverAuth}); err == nil {
		t.Error("a client certificate verifies for server auth")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 5 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("files %v, want ca.crt and two pairs (no CA key)", names)
	}
	if err := Write(t.TempDir(), Spec{Servers: []Server{{Name: "noip"}}}); err == nil {
		t.Error("a server without an IP was accepted")
	}
}
