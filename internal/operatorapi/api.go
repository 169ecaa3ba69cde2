package operatorapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/prometheus/common/model"

	"github.com/synguard/synguard/internal/bearer"
	"github.com/synguard/synguard/internal/blocks"
	"github.com/synguard/synguard/internal/blockstore"
	"github.com/synguard/synguard/internal/origin"
	"github.com/synguard/synguard/internal/prefix"
)

// Engine is what the API needs of the responder's engine.
type Engine interface {
	Status() blocks.Status
	Block(ctx context.Context, p netip.Prefix, d time.Duration, reason string) (blockstore.Block, bool, error)
	Unblock(ctx context.Context, p netip.Prefix) (blockstore.Block, error)
	SetPaused(paused bool) error
	Flush(ctx context.Context) error
}

// Options configure the API.
type Options struct {
	// Token, when not empty, is required as a bearer token for changes.
	Token string
	// ReadOnly refuses every change.
	ReadOnly bool
	// ApplyTimeout bounds how long a change waits to be confirmed in
	// firewalld before answering (default 10 s); the change stands either way.
	ApplyTimeout time.Duration
}

// API serves /api/v1/.
type API struct {
	e      Engine
	opts   atomic.Pointer[Options]
	logger *slog.Logger
	// cop refuses cross-origin browser requests: a web page an operator's
	// browser opens must not block, unblock or pause (curl and the CLI
	// send no Origin).
	cop *http.CrossOriginProtection
}

// New returns the API for e.
func New(e Engine, opts Options, logger *slog.Logger) *API {
	a := &API{e: e, logger: logger, cop: http.NewCrossOriginProtection()}
	a.SetOptions(opts)
	return a
}

// SetOptions replaces the options (on a config reload).
func (a *API) SetOptions(o Options) {
	if o.ApplyTimeout <= 0 {
		o.ApplyTimeout = 10 * time.Second
	}
	a.opts.Store(&o)
}

// Register mounts the API on mux.
func (a *API) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/v1/blocks", a.list)
	mux.HandleFunc("POST /api/v1/blocks", a.change(a.block))
	mux.HandleFunc("DELETE /api/v1/blocks/{prefix...}", a.change(a.unblock))
	mux.HandleFunc("GET /api/v1/pause", a.getPause)
	mux.HandleFunc("POST /api/v1/pause", a.change(a.pause(true)))
	mux.HandleFunc("DELETE /api/v1/pause", a.change(a.pause(false)))
}

// BlockJSON is a block as the API shows it.
type BlockJSON struct {
	Prefix string `json:"prefix"`
	Family string `json:"family"`
	Source string `json:"source"`
	Reason string `json:"reason"`
	Alert  string `json:"alert"`
	// Origin is the prefix's AS and country when it was blocked; null
	// when no origin database knew it.
	Origin   *origin.Info `json:"origin"`
	Since    time.Time    `json:"since"`
	Expiry   time.Time    `json:"expiry"`
	Offences int          `json:"offences"`
	// Applied is false while firewalld has not confirmed the block.
	Applied bool `json:"applied"`
}

func toJSON(b blockstore.Block, pending bool) BlockJSON {
	return BlockJSON{
		Prefix: b.Prefix.String(), Family: b.Family(), Source: b.Source, Reason: b.Reason, Alert: b.Alert,
		Origin: b.Origin, Since: b.Since.UTC(), Expiry: b.Expiry.UTC(), Offences: b.Offences, Applied: !pending,
	}
}

func reply(w http.ResponseWriter, code int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(body)
}

func fail(w http.ResponseWriter, code int, format string, args ...any) {
	reply(w, code, map[string]string{"status": "error", "error": fmt.Sprintf(format, args...)})
}

func (a *API) list(w http.ResponseWriter, _ *http.Request) {
	s := a.e.Status()
	out := make([]BlockJSON, 0, len(s.Blocks))
	for _, b := range s.Blocks {
		out = append(out, toJSON(b, s.Pending[b.Prefix]))
	}
	waiting := make([]map[string]any, 0, len(s.Waiting))
	for _, wa := range s.Waiting {
		waiting = append(waiting, map[string]any{"prefix": wa.Prefix.String(), "alert": wa.Alert, "since": wa.Since, "waits_for": wa.Reason})
	}
	reply(w, http.StatusOK, map[string]any{
		"blocks": out, "waiting": waiting, "paused": s.Paused, "dry_run": s.DryRun,
		"backend": s.Backend.Name, "backend_mode": s.Backend.Mode, "backend_up": s.Backend.Up,
	})
}

func (a *API) getPause(w http.ResponseWriter, _ *http.Request) {
	reply(w, http.StatusOK, map[string]bool{"paused": a.e.Status().Paused})
}

// change wraps a mutating handler with the read-only switch and the token.
func (a *API) change(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		o := a.opts.Load()
		if err := a.cop.Check(r); err != nil {
			fail(w, http.StatusForbidden, "cross-origin request refused: %v", err)
			return
		}
		if o.ReadOnly {
			fail(w, http.StatusForbidden, "the operator API is read-only (api.read_only)")
			return
		}
		if o.Token != "" {
			if !bearer.Valid(r, o.Token) {
				w.Header().Set("WWW-Authenticate", `Bearer realm="synguard-responder"`)
				fail(w, http.StatusUnauthorized, "missing or wrong bearer token")
				return
			}
		}
		h(w, r)
	}
}

// wait gives firewalld a moment to confirm a change, for the answer.
func (a *API) wait(r *http.Request) bool {
	ctx, cancel := context.WithTimeout(r.Context(), a.opts.Load().ApplyTimeout)
	defer cancel()
	return a.e.Flush(ctx) == nil
}

type blockRequest struct {
	Prefix   string `json:"prefix"`
	Duration string `json:"duration"`
	Reason   string `json:"reason"`
}

func (a *API) block(w http.ResponseWriter, r *http.Request) {
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		fail(w, http.StatusUnsupportedMediaType, `send the block as JSON ({"prefix":"198.51.100.32/27","duration":"2h","reason":"..."}) with Content-Type: application/json`)
		return
	}
	var req blockRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		fail(w, http.StatusBadRequest, "malformed JSON: %v", err)
		return
	}
	p, err := prefix.Parse(req.Prefix)
	if err != nil {
		fail(w, http.StatusBadRequest, "%v", err)
		return
	}
	var d time.Duration
	if req.Duration != "" {
		md, err := model.ParseDuration(req.Duration)
		if err != nil || md <= 0 {
			fail(w, http.StatusBadRequest, "duration %q is not a positive duration such as 90m, 2h or 7d", req.Duration)
			return
		}
		d = time.Duration(md)
	}
	b, isNew, err := a.e.Block(r.Context(), p, d, req.Reason)
	var refused *blocks.ErrRefused
	switch {
	case errors.As(err, &refused):
		fail(w, http.StatusUnprocessableEntity, "refused by policy: %s", refused.Reason)
		return
	case err != nil:
		fail(w, http.StatusInternalServerError, "%v", err)
		return
	}
	applied := a.wait(r)
	code := http.StatusOK
	if isNew {
		code = http.StatusCreated
	}
	j := toJSON(b, !applied)
	reply(w, code, map[string]any{"status": "ok", "new": isNew, "block": j})
}

func (a *API) unblock(w http.ResponseWriter, r *http.Request) {
	p, err := prefix.Parse(r.PathValue("prefix"))
	if err != nil {
		fail(w, http.StatusBadRequest, "%v", err)
		return
	}
	b, err := a.e.Unblock(r.Context(), p)
	switch {
	case errors.Is(err, blocks.ErrNotBlocked):
		fail(w, http.StatusNotFound, "%s is not blocked", p)
		return
	case err != nil:
		fail(w, http.StatusInternalServerError, "%v", err)
		return
	}
	applied := a.wait(r)
	reply(w, http.StatusOK, map[string]any{"status": "ok", "prefix": b.Prefix.String(), "offences": b.Offences, "applied": applied})
}

func (a *API) pause(p bool) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		if err := a.e.SetPaused(p); err != nil {
			fail(w, http.StatusInternalServerError, "%v", err)
			return
		}
		reply(w, http.StatusOK, map[string]bool{"paused": p})
	}
}
