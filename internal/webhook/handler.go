package webhook

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

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
}

// Handler is the webhook endpoint.
type Handler struct {
	opts      atomic.Pointer[Options]
	responder Responder
	logger    *slog.Logger
	webhooks  *prometheus.CounterVec
	// bodies holds a token per body being read: at most MaxConcurrentBodies
	// bodies (of up to max_body_bytes each) are in memory at once, however
	// many clients send.
	bodies   chan struct{}
	inFlight prometheus.Gauge
	// cop refuses cross-origin browser requests (a web page an operator's
	// browser opens cannot post alerts); Alertmanager sends no Origin.
	cop *http.CrossOriginProtection
}

// MaxConcurrentBodies bounds the webhook bodies read at once; a request
// beyond it waits (its connection held, its body unread) until one is done.
const MaxConcurrentBodies = 4

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
			Help: "Webhook bodies being read now; at most MaxConcurrentBodies (4), the rest wait.",
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
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(opts.BearerToken)) != 1 {
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
	h.inFlight.Inc()
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	h.inFlight.Dec()
	<-h.bodies
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			h.refuse(w, &Error{http.StatusRequestEntityTooLarge, policy.ReasonBodyTooLarge,
				"body larger than " + strconv.FormatInt(limit, 10) + " bytes; set max_alerts in the webhook_config"}, 1)
			return
		}
		h.refuse(w, &Error{http.StatusBadRequest, policy.ReasonBadJSON, "read body: " + err.Error()}, 1)
		return
	}
	m, derr := Decode(body, opts.MaxAlerts)
	if derr != nil {
		h.refuse(w, derr, 1)
		return
	}
	if m.TruncatedAlerts > 0 {
		h.logger.Warn("Alertmanager truncated the notification; the left-out alerts arrive in later notifications",
			"group_key", m.GroupKey, "truncated", m.TruncatedAlerts)
		h.responder.CountRefused(policy.ReasonTruncated, int(min(m.TruncatedAlerts, 1<<31)))
	}
	res, err := h.responder.HandleAlerts(r.Context(), m.PolicyAlerts())
	if err != nil {
		h.logger.Error("webhook not applied; Alertmanager will retry", "group_key", m.GroupKey, "err", err)
		h.reply(w, http.StatusInternalServerError, map[string]any{"status": "error", "error": err.Error()})
		return
	}
	h.logger.Debug("webhook applied", "group_key", m.GroupKey, "alerts", len(m.Alerts),
		"blocked", res.Blocked, "lifted", res.Lifted, "duplicates", res.Duplicates)
	h.reply(w, http.StatusOK, struct {
		Status string `json:"status"`
		blocks.Result
	}{"ok", res})
}
