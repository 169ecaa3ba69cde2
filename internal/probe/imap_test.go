package probe

import "testing"

// imapServer answers as dovecot does: capabilities in an untagged line,
// then the tagged OK; STARTTLS upgrades after its tagged OK.
func imapServer(cert *testCert) *lineServer {
	return &lineServer{
		banner: "* OK [CAPABILITY IMAP4rev1 STARTTLS] ready.\r\n",
		replies: map[string]string{
			"a1 CAPABILITY": "* CAPABILITY IMAP4rev1 STARTTLS AUTH=PLAIN\r\na1 OK Pre-login capabilities listed.\r\n",
			"a2 STARTTLS":   "a2 OK Begin TLS negotiation now.\r\n",
			"a3 LOGOUT":     "* BYE Logging out\r\na3 OK Logout completed.\r\n",
		},
		upgrade: map[string]bool{"a2 STARTTLS": true},
		tls:     cert.serverConfig(),
	}
}

// TestIMAPProber covers the imap entry of the protocol table against
// in-process servers: plain, STARTTLS and implicit TLS, and the error paths
// a real dovecot does not show on demand (a refusing greeting, a refused
// STARTTLS, a CAPABILITY answered BAD).
func TestIMAPProber(t *testing.T) {
	cert := newTestCert(t)
	wrongCA := "tls_config: {ca_file: " + newTestCert(t).caFile + "}\n"
	ca := "tls_config: {ca_file: " + cert.caFile + "}\n"
	imapAddr := serve(t, imapServer(cert).handle)
	implicit := imapServer(cert)
	implicit.implict = true
	imapsAddr := serve(t, implicit.handle)
	server := func(banner string, replies map[string]string) string {
		return serve(t, (&lineServer{banner: banner, replies: replies}).handle)
	}
	capOK := "* CAPABILITY IMAP4rev1\r\na1 OK done\r\n"
	runProbeCases(t, cert, []probeCase{
		{name: "imap", module: "prober: imap\n", target: imapAddr, wantOK: true, wantPhases: []string{"resolve", "connect", "banner", "dialogue"}},
		{name: "imap starttls", module: "prober: imap\nstarttls: true\n" + ca, target: imapAddr, wantOK: true, wantPhases: []string{"resolve", "connect", "banner", "dialogue", "tls"}, wantExpiry: true},
		{name: "imaps", module: "prober: imap\ntls: true\n" + ca, target: imapsAddr, wantOK: true, wantPhases: []string{"resolve", "connect", "tls", "banner", "dialogue"}, wantExpiry: true},
		{name: "imaps untrusted", module: "prober: imap\ntls: true\n" + wrongCA, target: imapsAddr, wantErr: "tls handshake"},
		{name: "imap starttls untrusted", module: "prober: imap\nstarttls: true\n" + wrongCA, target: imapAddr, wantErr: "starttls handshake"},
		{name: "bad greeting BYE", module: "prober: imap\n", target: server("* BYE Too many connections\r\n", nil), wantErr: `step 1: expect "^\\* OK\\b": got "* BYE Too many connections"`},
		{name: "greeting of pop3", module: "prober: imap\n", target: server("+OK POP3 ready\r\n", nil), wantErr: `got "+OK POP3 ready"`},
		{name: "greeting OKAY is not OK", module: "prober: imap\n", target: server("* OKAY\r\n", nil), wantErr: `got "* OKAY"`},
		{name: "capability BAD", module: "prober: imap\n", target: server("* OK hi\r\n", map[string]string{"a1 CAPABILITY": "a1 BAD no\r\n"}), wantErr: `step 2: expect "^a1 OK\\b": got "a1 BAD no"`},
		{name: "starttls refused NO", module: "prober: imap\nstarttls: true\n", target: server("* OK hi\r\n", map[string]string{"a1 CAPABILITY": capOK, "a2 STARTTLS": "a2 NO [ALERT] TLS unavailable\r\n"}), wantErr: `step 3: expect "^a2 OK\\b": got "a2 NO [ALERT] TLS unavailable"`},
		{name: "starttls unknown BAD", module: "prober: imap\nstarttls: true\n", target: server("* OK hi\r\n", map[string]string{"a1 CAPABILITY": capOK, "a2 STARTTLS": "a2 BAD Unknown command\r\n"}), wantErr: `got "a2 BAD Unknown command"`},
		{name: "starttls injection", module: "prober: imap\nstarttls: true\n" + ca, target: server("* OK hi\r\n", map[string]string{"a1 CAPABILITY": capOK, "a2 STARTTLS": "a2 OK go\r\n* injected\r\n"}), wantErr: "after its STARTTLS reply"},
		{name: "silent", module: "prober: imap\ntimeout: 1s\n", target: serve(t, silent), wantErr: "deadline exceeded"},
	})
}

// TestIMAPSendsWhatItShould: the commands, in order, with the CAPABILITY
// asked again over TLS (what the server offered before the upgrade is not
// to be trusted after it).
func TestIMAPSendsWhatItShould(t *testing.T) {
	cert := newTestCert(t)
	for _, tt := range []struct {
		module string
		want   []string
	}{
		{"prober: imap\n", []string{"a1 CAPABILITY", "a3 LOGOUT"}},
		{"prober: imap\nstarttls: true\ntls_config: {ca_file: " + cert.caFile + "}\n", []string{"a1 CAPABILITY", "a2 STARTTLS", "a1 CAPABILITY", "a3 LOGOUT"}},
	} {
		s := imapServer(cert)
		if r := probe(t, module(t, tt.module), serve(t, s.handle)); !r.Success {
			t.Fatalf("%q: probe failed: %v", tt.module, r.Err)
		}
		waitLines(t, s, tt.want)
	}
}
