package probe

import (
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
)

func smtpServer(cert *testCert) *lineServer {
	return &lineServer{
		banner: "220-mx.test ESMTP\r\n220 ready\r\n",
		replies: map[string]string{
			"EHLO":     "250-mx.test\r\n250-STARTTLS\r\n250 SIZE 1000\r\n",
			"STARTTLS": "220 go ahead\r\n",
			"QUIT":     "221 bye\r\n",
		},
		upgrade: map[string]bool{"STARTTLS": true},
		tls:     cert.serverConfig(),
	}
}

func pop3Server(cert *testCert) *lineServer {
	return &lineServer{
		banner:  "+OK POP3 ready\r\n",
		replies: map[string]string{"STLS": "+OK begin TLS\r\n", "QUIT": "+OK bye\r\n"},
		upgrade: map[string]bool{"STLS": true},
		tls:     cert.serverConfig(),
	}
}

func ftpServer(cert *testCert) *lineServer {
	return &lineServer{
		banner: "220 FTP ready\r\n",
		replies: map[string]string{
			"AUTH TLS": "234 proceed\r\n",
			"USER":     "331 password please\r\n",
			"PASS":     "230-welcome\r\n230 logged in\r\n",
			"QUIT":     "221 bye\r\n",
		},
		upgrade: map[string]bool{"AUTH TLS": true},
		tls:     cert.serverConfig(),
	}
}

// TestDialogueProbers covers tcp, smtp, pop3 and ftp against in-process
// servers: success, TLS upgrades, and every failure mode the issue names.
func TestDialogueProbers(t *testing.T) {
	cert := newTestCert(t)
	other := newTestCert(t) // a CA that did not sign the server's certificate
	ca := "tls_config: {ca_file: " + cert.caFile + "}\n"
	wrongCA := "tls_config: {ca_file: " + other.caFile + "}\n"

	smtp := smtpServer(cert)
	pop3 := pop3Server(cert)
	ftp := ftpServer(cert)
	smtpAddr, pop3Addr, ftpAddr := serve(t, smtp.handle), serve(t, pop3.handle), serve(t, ftp.handle)
	implicit := &lineServer{banner: "+OK pop3s\r\n", replies: map[string]string{"QUIT": "+OK\r\n"}, tls: cert.serverConfig(), implict: true}
	implicitAddr := serve(t, implicit.handle)
	silentAddr := serve(t, silent)
	refused := refusedAddr(t)

	runProbeCases(t, cert, []probeCase{
		{name: "tcp connect", module: "prober: tcp\n", target: silentAddr, wantOK: true, wantPhases: []string{"resolve", "connect"}},
		{name: "tcp refused", module: "prober: tcp\n", target: refused, wantErr: "connection refused"},
		{name: "tcp tls", module: "prober: tcp\ntls: true\n" + ca, target: implicitAddr, wantOK: true, wantPhases: []string{"resolve", "connect", "tls"}, wantExpiry: true},
		{name: "tcp tls untrusted", module: "prober: tcp\ntls: true\n" + wrongCA, target: implicitAddr, wantErr: "certificate"},
		{name: "tcp tls insecure", module: "prober: tcp\ntls: true\ntls_config: {insecure_skip_verify: true}\n", target: implicitAddr, wantOK: true, wantExpiry: true},
		{name: "tcp tls silent", module: "prober: tcp\ntls: true\ntimeout: 1s\n", target: silentAddr, wantErr: "deadline exceeded"},
		{name: "tcp own dialogue", module: "prober: tcp\ndialogue:\n  - expect: '^220 '\n    skip: '^220-'\n  - send: EHLO x\n    expect: '^250 '\n    skip: '^250-'\n", target: smtpAddr, wantOK: true},

		{name: "smtp", module: "prober: smtp\n", target: smtpAddr, wantOK: true, wantPhases: []string{"resolve", "connect", "banner", "dialogue"}},
		{name: "smtp starttls", module: "prober: smtp\nstarttls: true\n" + ca, target: smtpAddr, wantOK: true, wantPhases: []string{"resolve", "connect", "banner", "dialogue", "tls"}, wantExpiry: true},
		{name: "smtp starttls untrusted", module: "prober: smtp\nstarttls: true\n" + wrongCA, target: smtpAddr, wantErr: "starttls handshake"},
		{name: "smtp wrong banner", module: "prober: smtp\n", target: pop3Addr, wantErr: `got "+OK POP3 ready"`},
		{name: "smtp refused", module: "prober: smtp\n", target: refused, wantErr: "connection refused"},
		{name: "smtp silent", module: "prober: smtp\ntimeout: 1s\n", target: silentAddr, wantErr: "deadline exceeded"},
		{name: "smtp drip", module: "prober: smtp\ntimeout: 2s\n", target: serve(t, drip("220 slow server\r\n")), wantErr: "deadline exceeded"},
		{name: "smtp 554 banner", module: "prober: smtp\n", target: serve(t, (&lineServer{banner: "554 go away\r\n"}).handle), wantErr: `got "554 go away"`},
		{name: "smtp half banner", module: "prober: smtp\n", target: serve(t, func(c net.Conn) { c.Write([]byte("220 hal")) }), wantErr: `partial line "220 hal"`},
		{name: "smtp garbage", module: "prober: smtp\n", target: serve(t, func(c net.Conn) { c.Write([]byte(strings.Repeat("\x00\xff", 5000))); silent(c) }), wantErr: "longer than 4096 bytes"},
		{name: "smtp ehlo refused", module: "prober: smtp\n", target: serve(t, (&lineServer{banner: "220 ok\r\n", replies: map[string]string{"EHLO": "502 no\r\n"}}).handle), wantErr: `step 2: expect "^250 ": got "502 no"`},
		{name: "smtp starttls injection", module: "prober: smtp\nstarttls: true\n" + ca, target: serve(t, (&lineServer{banner: "220 ok\r\n", replies: map[string]string{"EHLO": "250 ok\r\n", "STARTTLS": "220 go\r\n250 injected\r\n"}}).handle), wantErr: "after its STARTTLS reply"},

		{name: "pop3", module: "prober: pop3\n", target: pop3Addr, wantOK: true, wantPhases: []string{"resolve", "connect", "banner", "dialogue"}},
		{name: "pop3 stls", module: "prober: pop3\nstarttls: true\n" + ca, target: pop3Addr, wantOK: true, wantExpiry: true},
		{name: "pop3s implicit", module: "prober: pop3\ntls: true\n" + ca, target: implicitAddr, wantOK: true, wantPhases: []string{"resolve", "connect", "tls", "banner", "dialogue"}, wantExpiry: true},
		{name: "pop3 wrong banner", module: "prober: pop3\n", target: smtpAddr, wantErr: `got "220-mx.test ESMTP"`},
		{name: "pop3 -ERR", module: "prober: pop3\n", target: serve(t, (&lineServer{banner: "-ERR busy\r\n"}).handle), wantErr: `got "-ERR busy"`},
		{name: "pop3 stls refused", module: "prober: pop3\nstarttls: true\n", target: serve(t, (&lineServer{banner: "+OK\r\n", replies: map[string]string{"STLS": "-ERR no\r\n"}}).handle), wantErr: `got "-ERR no"`},
		{name: "pop3 silent", module: "prober: pop3\ntimeout: 1s\n", target: silentAddr, wantErr: "deadline exceeded"},
		{name: "pop3 drip", module: "prober: pop3\ntimeout: 2s\n", target: serve(t, drip("+OK slow\r\n")), wantErr: "deadline exceeded"},
		{name: "pop3 refused", module: "prober: pop3\n", target: refused, wantErr: "connection refused"},

		{name: "ftp", module: "prober: ftp\n", target: ftpAddr, wantOK: true},
		{name: "ftp auth tls login", module: "prober: ftp\nstarttls: true\nftp_login: {username: anonymous, password: probe@}\n" + ca, target: ftpAddr, wantOK: true, wantExpiry: true},
		{name: "ftp login refused", module: "prober: ftp\nftp_login: {username: bob, password: secret}\n", target: serve(t, (&lineServer{banner: "220 ok\r\n", replies: map[string]string{"USER": "331 pw\r\n", "PASS": "530 Login incorrect\r\n"}}).handle), wantErr: `step 3: expect "^230 ": got "530 Login incorrect"`},
		{name: "ftp wrong banner", module: "prober: ftp\n", target: pop3Addr, wantErr: `got "+OK POP3 ready"`},
		{name: "ftp 421", module: "prober: ftp\n", target: serve(t, (&lineServer{banner: "421 too many\r\n"}).handle), wantErr: `got "421 too many"`},
		{name: "ftp silent", module: "prober: ftp\ntimeout: 1s\n", target: silentAddr, wantErr: "deadline exceeded"},
		{name: "ftp drip", module: "prober: ftp\ntimeout: 2s\n", target: serve(t, drip("220 slow\r\n")), wantErr: "deadline exceeded"},
		{name: "ftp refused", module: "prober: ftp\n", target: refused, wantErr: "connection refused"},
		{name: "ftp auth tls untrusted", module: "prober: ftp\nstarttls: true\n" + wrongCA, target: ftpAddr, wantErr: "starttls handshake"},
	})
}

// TestDialogueSendsWhatItShould checks the commands the built-in dialogues
// send, including that a password never reaches an error.
func TestDialogueSendsWhatItShould(t *testing.T) {
	cert := newTestCert(t)
	ftp := ftpServer(cert)
	addr := serve(t, ftp.handle)
	m := module(t, "prober: ftp\nstarttls: true\nftp_login: {username: alice, password: s3cret}\ntls_config: {ca_file: "+cert.caFile+"}\n")
	if r := probe(t, m, addr); !r.Success {
		t.Fatalf("probe failed: %v", r.Err)
	}
	waitLines(t, ftp, []string{"AUTH TLS", "USER alice", "PASS s3cret", "QUIT"})

	bad := &lineServer{banner: "220 ok\r\n", replies: map[string]string{"USER": "331 pw\r\n"}}
	m = module(t, "prober: ftp\nftp_login: {username: alice, password: s3cret}\n")
	r := probe(t, m, serve(t, bad.handle))
	if r.Success || strings.Contains(r.Err.Error(), "s3cret") {
		t.Errorf("err = %v: want a failure that does not show the password", r.Err)
	}
}

// TestFailureReasonLogged: a garbage-sending server fails the probe within
// its timeout, and the reason is logged at debug level.
func TestFailureReasonLogged(t *testing.T) {
	var buf syncBuf
	logger := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	addr := serve(t, func(c net.Conn) { c.Write([]byte("\x16\x03\x01garbage\r\n")) })
	m := module(t, "prober: smtp\ntimeout: 1s\n")
	r := (&Prober{Logger: logger}).Probe(t.Context(), "smtp", m, addr)
	if r.Success {
		t.Fatal("garbage banner accepted")
	}
	log := buf.String()
	for _, want := range []string{"level=DEBUG", `msg="probe failed"`, "module=smtp", "target=" + addr, `expect \"^220 \": got \"\\x16\\x03\\x01garbage\"`} {
		if !strings.Contains(log, want) {
			t.Errorf("debug log lacks %s:\n%s", want, log)
		}
	}
}

type syncBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
