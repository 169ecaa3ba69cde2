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
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/synguard/synguard/internal/configfile"
)

const (
	maxRedirects = 10
	maxBodyBytes = 1 << 20
)

// probeHTTP sends one request (following redirects as the module says) and
// checks the status code and, optionally, the body.
func (p *Prober) probeHTTP(ctx context.Context, m *Module, target string, tr *trace) error {
	target = httpURL(target)
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
	tr.ip = ip

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
		TLSHandshakeTimeout: m.Timeout.Std(),
	}
	defer transport.CloseIdleConnections()
	redirects := 0
	client := &http.Client{
		Transport: transport,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			redirects = len(via)
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
	tr.http = &HTTPInfo{
		StatusCode: resp.StatusCode, Version: float64(resp.ProtoMajor) + float64(resp.ProtoMinor)/10,
		Redirects: redirects, ContentLength: resp.ContentLength, BodyLength: int64(len(body)), SSL: resp.TLS != nil,
	}
	if !m.HTTP.ValidStatusCodes.Contains(resp.StatusCode) {
		return fmt.Errorf("status %d (%s) not in valid_status_codes", resp.StatusCode, statusText(resp.StatusCode))
	}
	if re := m.HTTP.BodyRegexp; re != nil && !re.Match(body) {
		tr.regexFailed = true
		return fmt.Errorf("body does not match %q", re.String())
	}
	return nil
}

// httpURL turns a host:port target into http://host:port, as
// blackbox_exporter does, so a scrape job that probes host:port targets
// with the http prober works unchanged; a URL stays as it is (another
// scheme too, for the target check to refuse).
func httpURL(target string) string {
	if strings.Contains(target, "://") {
		return target
	}
	return "http://" + target
}

func statusText(code int) string {
	if t := http.StatusText(code); t != "" {
		return t
	}
	return strconv.Itoa(code)
}

// StatusRange is an inclusive range of HTTP status codes.
type StatusRange struct{ Min, Max int }

// StatusCodes is a list of accepted HTTP status code ranges.
type StatusCodes []StatusRange

// Contains reports whether code is in one of the ranges.
func (s StatusCodes) Contains(code int) bool {
	for _, r := range s {
		if code >= r.Min && code <= r.Max {
			return true
		}
	}
	return false
}

// UnmarshalYAML implements yaml.Unmarshaler: items are 200, "2xx" or "200-299".
func (s *StatusCodes) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.SequenceNode {
		return configfile.Errorf(n, "valid_status_codes must be a list such as [200, \"3xx\", \"400-404\"]")
	}
	out := StatusCodes{}
	for _, item := range n.Content {
		r, err := parseStatusRange(item.Value)
		if err != nil {
			return configfile.Errorf(item, "%v", err)
		}
		out = append(out, r)
	}
	*s = out
	return nil
}

func parseStatusRange(v string) (StatusRange, error) {
	bad := fmt.Errorf("status code %q is not a code, \"Nxx\" or \"A-B\" between 100 and 599", v)
	code := func(s string) (int, bool) {
		c, err := strconv.Atoi(s)
		return c, err == nil && c >= 100 && c <= 599
	}
	switch {
	case len(v) == 3 && strings.HasSuffix(v, "xx"):
		c, ok := code(v[:1] + "00")
		if !ok {
			return StatusRange{}, bad
		}
		return StatusRange{c, c + 99}, nil
	case strings.Contains(v, "-"):
		a, b, _ := strings.Cut(v, "-")
		lo, ok1 := code(strings.TrimSpace(a))
		hi, ok2 := code(strings.TrimSpace(b))
		if !ok1 || !ok2 || lo > hi {
			return StatusRange{}, bad
		}
		return StatusRange{lo, hi}, nil
	default:
		c, ok := code(v)
		if !ok {
			return StatusRange{}, bad
		}
		return StatusRange{c, c}, nil
	}
}
