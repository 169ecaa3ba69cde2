package probe

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strconv"
	"time"
)

const (
	maxRedirects = 10
	maxBodyBytes = 1 << 20
)

// probeHTTP sends one request (following redirects as the module says) and
// checks the status code and, optionally, the body.
func (p *Prober) probeHTTP(ctx context.Context, m *Module, target string, tr *trace) error {
	u, err := url.Parse(target)
	if err != nil {
		return fmt.Errorf("parse url: %w", err)
	}
	host := u.Hostname()
	ip, err := resolve(ctx, host, m.IPProtocol)
	if err != nil {
		return err
	}
	tr.mark(PhaseResolve)

	var d net.Dialer
	transport := &http.Transport{
		Proxy: nil, // probe the service itself, never an environment proxy
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			h, port, err := net.SplitHostPort(addr)
			if err != nil {
				return nil, err
			}
			if h == host {
				// Dial the address resolved above, so ip_protocol holds.
				addr = net.JoinHostPort(ip.String(), port)
			} else if a, err := resolve(ctx, h, m.IPProtocol); err == nil {
				addr = net.JoinHostPort(a.String(), port) // a redirect to another host
			} else {
				return nil, err
			}
			return d.DialContext(ctx, "tcp", addr)
		},
		TLSClientConfig:     tlsConfigFor(m, ""), // empty ServerName: the transport checks each request's own host
		DisableKeepAlives:   true,
		TLSHandshakeTimeout: m.Timeout,
	}
	defer transport.CloseIdleConnections()
	client := &http.Client{
		Transport: transport,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if !*m.HTTP.FollowRedirects {
				return http.ErrUseLastResponse
			}
			if len(via) >= maxRedirects {
				return fmt.Errorf("stopped after %d redirects", maxRedirects)
			}
			return nil
		},
	}

	var connectStart, tlsStart, wrote time.Time
	ht := &httptrace.ClientTrace{
		ConnectStart: func(string, string) { connectStart = time.Now() },
		ConnectDone: func(string, string, error) {
			if !connectStart.IsZero() {
				tr.add(PhaseConnect, time.Since(connectStart))
			}
		},
		TLSHandshakeStart: func() { tlsStart = time.Now() },
		TLSHandshakeDone: func(st tls.ConnectionState, _ error) {
			if !tlsStart.IsZero() {
				tr.add(PhaseTLS, time.Since(tlsStart))
			}
		},
		WroteRequest: func(httptrace.WroteRequestInfo) { wrote = time.Now() },
		GotFirstResponseByte: func() {
			if !wrote.IsZero() {
				tr.add(PhaseProcessing, time.Since(wrote))
			}
		},
	}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, ht), m.HTTP.Method, target, nil)
	if err != nil {
		return fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("User-Agent", "synguard-probe")
	for k, v := range m.HTTP.Headers {
		if http.CanonicalHeaderKey(k) == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("http request: %w", err)
	}
	defer resp.Body.Close()
	firstByte := time.Now()
	if resp.TLS != nil {
		tr.tlsState(*resp.TLS)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBodyBytes))
	if err != nil {
		return fmt.Errorf("read body (status %d): %w", resp.StatusCode, err)
	}
	tr.add(PhaseTransfer, time.Since(firstByte))
	tr.last = time.Now()
	if !m.HTTP.ValidStatusCodes.Contains(resp.StatusCode) {
		return fmt.Errorf("status %d (%s) not in valid_status_codes", resp.StatusCode, statusText(resp.StatusCode))
	}
	if re := m.HTTP.BodyRegexp; re != nil && !re.Match(body) {
		return fmt.Errorf("body does not match %q", re.String())
	}
	return nil
}

func statusText(code int) string {
	if t := http.StatusText(code); t != "" {
		return t
	}
	return strconv.Itoa(code)
}
