package labpki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// Server is a host whose exporter and responder serve TLS: its certificate
// names it by Name (a DNS SAN) and by IP (an IP SAN), so a client may dial
// either.
type Server struct {
	Name string
	IP   net.IP
}

// Spec is what Write issues.
type Spec struct {
	// Servers get NAME.crt and NAME.key, for server authentication only.
	Servers []Server
	// Clients get NAME.crt and NAME.key, for client authentication only,
	// NAME as their one DNS SAN (what client_allowed_sans matches).
	Clients []string
	// Validity of every certificate, from an hour ago (clock skew between
	// the lab's processes is nil, but a CI runner's clock may step); 24 h
	// when zero.
	Validity time.Duration
}

// Write issues spec's certificates into dir (created 0700): ca.crt, and a
// NAME.crt and NAME.key (0600) per server and client. The CA's key stays in
// memory: no certificate can be added later, which a lab never needs.
func Write(dir string, spec Spec) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create PKI directory: %w", err)
	}
	validity := spec.Validity
	if validity == 0 {
		validity = 24 * time.Hour
	}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("generate CA key: %w", err)
	}
	notBefore := time.Now().Add(-time.Hour)
	caTmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: "synguard fleet lab CA"},
		NotBefore:             notBefore,
		NotAfter:              notBefore.Add(validity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	caDER, ca, err := issue(caTmpl, nil, &caKey.PublicKey, caKey)
	if err != nil {
		return fmt.Errorf("issue the CA certificate: %w", err)
	}
	if err := writePEM(filepath.Join(dir, "ca.crt"), "CERTIFICATE", caDER, 0o644); err != nil {
		return err
	}
	leaf := func(name string, tmpl *x509.Certificate) error {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return fmt.Errorf("generate %s's key: %w", name, err)
		}
		tmpl.Subject = pkix.Name{CommonName: name}
		tmpl.NotBefore, tmpl.NotAfter = notBefore, notBefore.Add(validity)
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
		der, _, err := issue(tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			return fmt.Errorf("issue %s's certificate: %w", name, err)
		}
		keyDER, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			return fmt.Errorf("encode %s's key: %w", name, err)
		}
		if err := writePEM(filepath.Join(dir, name+".crt"), "CERTIFICATE", der, 0o644); err != nil {
			return err
		}
		return writePEM(filepath.Join(dir, name+".key"), "PRIVATE KEY", keyDER, 0o600)
	}
	for _, s := range spec.Servers {
		if s.Name == "" || s.IP == nil {
			return fmt.Errorf("server %q: want a name and an IP", s.Name)
		}
		err := leaf(s.Name, &x509.Certificate{
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
			DNSNames:    []string{s.Name},
			IPAddresses: []net.IP{s.IP},
		})
		if err != nil {
			return err
		}
	}
	for _, c := range spec.Clients {
		if c == "" {
			return fmt.Errorf("a client without a name")
		}
		err := leaf(c, &x509.Certificate{
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
			DNSNames:    []string{c},
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// issue signs tmpl with parent's key (tmpl itself when parent is nil: self-
// signed), with a random 128-bit serial, and returns the DER and the parsed
// certificate.
func issue(tmpl, parent *x509.Certificate, pub *ecdsa.PublicKey, signer *ecdsa.PrivateKey) ([]byte, *x509.Certificate, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, nil, fmt.Errorf("serial number: %w", err)
	}
	tmpl.SerialNumber = serial
	if parent == nil {
		parent = tmpl
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
	if err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, err
	}
	return der, cert, nil
}

func writePEM(path, typ string, der []byte, mode os.FileMode) error {
	b := pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
	if err := os.WriteFile(path, b, mode); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
