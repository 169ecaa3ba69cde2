package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/synguard/synguard/internal/bearer"
	"github.com/synguard/synguard/internal/blocks"
	"github.com/synguard/synguard/internal/policy"
)

// Responder applies the alerts of a valid notification. An error means the
// state could not be saved: the notification is answered 5xx so that
// Alertmanager sends it again.
type Responder interface {
	HandleAlerts(ctx context.Context, alerts []policy.Alert) (blocks.Result, error)
	// CountRefused counts n refusals that never reached HandleAlerts.
	CountRefused(reason policy.Reason, n int)
}

// Options configure a Handler.
type Options struct {
	// MaxBodyBytes bounds the body; a larger one is answered 413.
	MaxBodyBytes int64
	// MaxAlerts bounds the alerts per notification (0: no limit).
	MaxAlerts int
	// BearerToken, when not empty, must be sent as "Authorization: Bearer".
	BearerToken string
	// BodyReadTimeout bounds how long one body may take to arrive
	// (default 10 s: 4 MiB at 400 KiB/s, far below what any Alertmanager
	// sends at), so a sender trickling bytes cannot hold a read slot.
	BodyReadTimeout time.Duration
}

// Handler is the webhook endpoint.
type Handler struct {
	opts      atomic.Pointer[Options]
	responder Responder
	logger    *slog.Logger
	webhooks  *prometheus.CounterVec
	// bodies holds a token per body being read and decoded: at most
	// MaxConcurrentBodies bodies (of up to max_body_bytes each) are in
	// memory at once, however many clients send; what waits for the ledger
	// afterwards is the alerts, bounded (policy.Alert.Bounded).
	bodies   chan struct{}
	inFlight prometheus.Gauge
	// cop refuses cross-origin browser requests (a web page an operator's
	// browser opens cannot post alerts); Alertmanager sends no Origin.
	cop *http.CrossOriginProtection
}

// MaxConcurrentBodies bounds the webhook bodies read and decoded at once; a
// request beyond it waits (its connection held, its body unread) until one
// is done.
const MaxConcurrentBodies = 3

// Status codes the handler answers, shown at zero in the metrics.
var statusCodes = []int{http.StatusOK, http.StatusBadRequest, http.StatusUnauthorized, http.StatusForbidden,
	http.StatusMethodNotAllowed, http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType, http.StatusInternalServerError}

// New returns a Handler and registers synguard_responder_webhooks_total on reg.
func New(opts Options, r Responder, reg prometheus.Registerer, logger *slog.Logger) *Handler {
	h := &Handler{
		responder: r,
		logger:    logger,
		webhooks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "synguard_responder_webhooks_total",
			Help: "Webhook notifications received, by HTTP status code answered.",
		}, []string{"code"}),
		bodies: make(chan struct{}, MaxConcurrentBodies),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "synguard_responder_webhook_bodies_in_flight",
			Help: "Webhook bodies being read and decoded now; at most 3, the rest wait unread.",
		}),
		cop: http.NewCrossOriginProtection(),
	}
	for _, c := range statusCodes {
		h.webhooks.WithLabelValues(strconv.Itoa(c))
	}
	reg.MustRegister(h.webhooks, h.inFlight)
	h.SetOptions(opts)
	return h
}

// SetOptions replaces the options (on a config reload).
func (h *Handler) SetOptions(o Options) { h.opts.Store(&o) }

func (h *Handler) refuse(w http.ResponseWriter, e *Error, n int) {
	h.responder.CountRefused(e.Reason, n)
	h.logger.Warn("webhook refused", "status", e.Status, "reason", e.Reason, "err", e.Msg)
	h.reply(w, e.Status, map[string]any{"status": "error", "reason": e.Reason, "error": e.Msg})
}

func (h *Handler) reply(w http.ResponseWriter, code int, body any) {
	h.webhooks.WithLabelValues(strconv.Itoa(code)).Inc()
	w.Header().Set("Content-Type", "application/json")
	if code == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="synguard-responder"`)
	}
	if code == http.StatusMethodNotAllowed {
		w.Header().Set("Allow", http.MethodPost)
	}
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(body)
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	opts := h.opts.Load()
	if r.Method != http.MethodPost {
		h.reply(w, http.StatusMethodNotAllowed, map[string]any{"status": "error", "error": "use POST"})
		return
	}
	if err := h.cop.Check(r); err != nil {
		h.refuse(w, &Error{http.StatusForbidden, policy.ReasonCrossOrigin, "cross-origin request refused: " + err.Error()}, 1)
		return
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		// A browser's form or text/plain post needs no preflight: only
		// application/json is Alertmanager's, and a page cannot send it
		// cross-origin without asking first.
		h.refuse(w, &Error{http.StatusUnsupportedMediaType, policy.ReasonBadJSON,
			"Content-Type must be application/json (Alertmanager's), not " + strconv.Quote(r.Header.Get("Content-Type"))}, 1)
		return
	}
	if opts.BearerToken != "" {
		if !bearer.Valid(r, opts.BearerToken) {
			h.refuse(w, &Error{http.StatusUnauthorized, policy.ReasonUnauthorized, "missing or wrong bearer token"}, 1)
			return
		}
	}
	limit := opts.MaxBodyBytes
	if limit <= 0 {
		limit = 4 << 20
	}
	select {
	case h.bodies <- struct{}{}:
	case <-r.Context().Done():
		return
	}
	// A token is held while the body arrives: a sender trickling bytes must
	// not hold it for ever (the server's own timeouts are generous for
	// /probe's sake).
	rt := opts.BodyReadTimeout
	if rt <= 0 {
		rt = 10 * time.Second
	}
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(rt))
	h.inFlight.Inc()
	alerts, truncated, groupKey, rerr := h.read(w, r, limit, opts.MaxAlerts)
	h.inFlight.Dec()
	<-h.bodies
	if rerr != nil {
		h.refuse(w, rerr, 1)
		return
	}
	if truncated > 0 {
		h.logger.Warn("Alertmanager truncated the notification; the left-out alerts arrive in later notifications",
			"group_key", groupKey, "truncated", truncated)
		h.responder.CountRefused(policy.ReasonTruncated, int(min(truncated, 1<<31)))
	}
	res, err := h.responder.HandleAlerts(r.Context(), alerts)
	if err != nil {
		h.logger.Error("webhook not applied; Alertmanager will retry", "group_key", groupKey, "err", err)
		h.reply(w, http.StatusInternalServerError, map[string]any{"status": "error", "error": err.Error()})
		return
	}
	h.logger.Debug("webhook applied", "group_key", groupKey, "alerts", len(alerts),
		"blocked", res.Blocked, "lifted", res.Lifted, "duplicates", res.Duplicates)
	h.reply(w, http.StatusOK, struct {
		Status string `json:"status"`
		blocks.Result
	}{"ok", res})
}

// read reads and decodes one notification and returns its alerts bounded
// (policy.Alert.Bounded): the body and the decoded message, as large as
// max_body_bytes each, are garbage once it returns, before the alerts wait
// for the ledger.
func (h *Handler) read(w http.ResponseWriter, r *http.Request, limit int64, maxAlerts int) ([]policy.Alert, uint64, string, *Error) {
	// Sized from Content-Length when it is given (within the limit): read
	// by doubling, a body of 4 MiB would cost 8 MiB and the copies between.
	var buf bytes.Buffer
	if n := r.ContentLength; n > 0 && n <= limit {
		buf.Grow(int(n) + bytes.MinRead)
	}
	_, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, limit))
	body := buf.Bytes()
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, 0, "", &Error{http.StatusRequestEntityTooLarge, policy.ReasonBodyTooLarge,
				"body larger than " + strconv.FormatInt(limit, 10) + " bytes; set max_alerts in the webhook_config"}
		}
		return nil, 0, "", &Error{http.StatusBadRequest, policy.ReasonBadJSON, "read body: " + err.Error()}
	}
	m, derr := Decode(body, maxAlerts)
	if derr != nil {
		return nil, 0, "", derr
	}
	return m.PolicyAlerts(), m.TruncatedAlerts, policy.Clip(m.GroupKey), nil
}
