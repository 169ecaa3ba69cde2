package probe

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/synguard/synguard/internal/configfile"
)

// testCert is a self-signed certificate for 127.0.0.1, ::1 and localhost.
type testCert struct {
	tls      tls.Certificate
	certPEM  []byte
	keyPEM   []byte
	caFile   string // the certificate as a PEM file, to verify against
	notAfter time.Time
}

func newTestCert(t *testing.T) *testCert {
	t.Helper()
	// RSA, not ECDSA: OpenSMTPD 6.8's privilege-separated signer fails TLS
	// handshakes with an EC key ("EVP lib").
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	notAfter := time.Now().Add(48 * time.Hour).Truncate(time.Second).UTC()
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "synguard probe test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	c := &testCert{
		certPEM:  pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		keyPEM:   pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}),
		notAfter: notAfter,
	}
	c.tls, err = tls.X509KeyPair(c.certPEM, c.keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	c.caFile = filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(c.caFile, c.certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return c
}

func (c *testCert) serverConfig() *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{c.tls}, MinVersion: tls.VersionTLS12}
}

// serve accepts connections on a loopback port and hands each to handle in
// its own goroutine; everything ends when the test does.
func serve(t testing.TB, handle func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	done := make(chan struct{})
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		close(done)
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				handle(c)
			}()
		}
	}()
	return ln.Addr().String()
}

// refusedAddr returns a loopback address where nothing listens.
func refusedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// silent accepts and never says a word until the client goes away.
func silent(c net.Conn) { _, _ = io.Copy(io.Discard, c) }

// drip sends s one byte a second.
func drip(s string) func(net.Conn) {
	return func(c net.Conn) {
		for i := 0; i < len(s); i++ {
			if _, err := c.Write([]byte{s[i]}); err != nil {
				return
			}
			time.Sleep(time.Second)
		}
		silent(c)
	}
}

// lineServer plays a line protocol: it sends banner, then answers each
// command line by replies[line] when the whole line is a key (IMAP's tagged
// commands, "a1 CAPABILITY"), else by replies[verb] (verb: the first word,
// upper-cased). A reply to a key in upgrade switches the connection to TLS
// after it is sent.
type lineServer struct {
	banner  string
	replies map[string]string
	upgrade map[string]bool
	tls     *tls.Config
	implict bool // TLS from the first byte
	// got records the command lines seen, for assertions.
	mu  sync.Mutex
	got []string
}

func (s *lineServer) handle(c net.Conn) {
	if s.implict {
		c = tls.Server(c, s.tls)
	}
	if s.banner != "" {
		if _, err := c.Write([]byte(s.banner)); err != nil {
			return
		}
	}
	r := bufio.NewReader(c)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		s.mu.Lock()
		s.got = append(s.got, line)
		s.mu.Unlock()
		verb, _, _ := strings.Cut(line, " ")
		verb = strings.ToUpper(verb)
		if verb == "AUTH" {
			verb = strings.ToUpper(line)
		}
		if _, ok := s.replies[line]; ok {
			verb = line
		}
		reply, ok := s.replies[verb]
		if !ok {
			reply = "500 unknown\r\n"
		}
		if _, err := c.Write([]byte(reply)); err != nil {
			return
		}
		if verb == "QUIT" {
			return
		}
		if s.upgrade[verb] {
			tc := tls.Server(c, s.tls)
			if err := tc.Handshake(); err != nil {
				return
			}
			c = tc
			r = bufio.NewReader(c)
		}
	}
}

func (s *lineServer) lines() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.got...)
}

// loadConfig decodes a probes config the way the exporter does.
func loadConfig(t testing.TB, yml string) Config {
	t.Helper()
	var c struct {
		Probes Config `yaml:"probes"`
	}
	if err := configfile.Decode("test.yml", []byte(yml), &c); err != nil {
		t.Fatalf("config: %v\n%s", err, yml)
	}
	return c.Probes
}

// module decodes one module from YAML.
func module(t testing.TB, yml string) *Module {
	t.Helper()
	cfg := loadConfig(t, "probes:\n  modules:\n    m:\n"+indent(yml, "      "))
	m := cfg.Modules["m"]
	return &m
}

func indent(s, pre string) string {
	var b strings.Builder
	for _, l := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		b.WriteString(pre + l + "\n")
	}
	return b.String()
}

// probe runs one probe and checks it ended within the module's timeout.
func probe(t *testing.T, m *Module, target string) Result {
	t.Helper()
	p := &Prober{}
	r := p.Probe(context.Background(), "m", m, target)
	if r.Duration > m.Timeout.Std()+time.Second/2 {
		t.Errorf("probe took %s, more than its timeout %s", r.Duration, m.Timeout)
	}
	return r
}

// probeCase is one probe of a table test and what it must give.
type probeCase struct {
	name, module, target string
	wantOK               bool
	wantErr              string
	wantPhases           []string
	wantExpiry           bool
}

// runProbeCases runs each case as a parallel subtest. cert is the servers'
// certificate: a case with wantExpiry must report its expiry, and a
// successful case without must report none.
func runProbeCases(t *testing.T, cert *testCert, tests []probeCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := probe(t, module(t, tt.module), tt.target)
			if r.Success != tt.wantOK {
				t.Fatalf("success = %v, want %v (err: %v)", r.Success, tt.wantOK, r.Err)
			}
			if tt.wantErr != "" && (r.Err == nil || !strings.Contains(r.Err.Error(), tt.wantErr)) {
				t.Fatalf("err = %v, want it to contain %q", r.Err, tt.wantErr)
			}
			if tt.wantPhases != nil {
				var got []string
				for _, p := range r.Phases {
					got = append(got, p.Phase)
				}
				if !slices.Equal(got, tt.wantPhases) {
					t.Errorf("phases = %v, want %v", got, tt.wantPhases)
				}
			}
			if tt.wantExpiry && !r.CertExpiry.Equal(cert.notAfter) {
				t.Errorf("cert expiry = %v, want %v", r.CertExpiry, cert.notAfter)
			}
			if !tt.wantExpiry && !r.CertExpiry.IsZero() && r.Success {
				t.Errorf("cert expiry = %v without TLS", r.CertExpiry)
			}
		})
	}
}

// waitLines checks that s saw exactly want. A probe does not wait for the
// answer to its last command (QUIT, LOGOUT), so the server gets a moment
// to record it.
func waitLines(t *testing.T, s *lineServer, want []string) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for !slices.Equal(s.lines(), want) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := s.lines(); !slices.Equal(got, want) {
		t.Errorf("server saw %q, want %q", got, want)
	}
}
