package statuspage

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"html/template"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Block is one active block as the page shows it.
type Block struct {
	Prefix   string    `json:"prefix"`
	Family   string    `json:"family,omitempty"`
	Origin   string    `json:"origin,omitempty"`
	Reason   string    `json:"reason,omitempty"`
	Alert    string    `json:"alert,omitempty"`
	Since    time.Time `json:"since"`
	Expiry   time.Time `json:"expiry"`
	Offences int       `json:"offences"`
	// Applied is false while the block is desired but not (yet) in the firewall.
	Applied bool `json:"applied"`
}

// Event is one recent action (block, unblock, expire, ...) or refusal.
type Event struct {
	Time   time.Time `json:"time"`
	Action string    `json:"action"`
	Prefix string    `json:"prefix,omitempty"`
	// Result is "ok" or an error class for actions, the reason for refusals.
	Result string `json:"result"`
	Detail string `json:"detail,omitempty"`
}

// Backend is the responder's view of its firewall backend.
type Backend struct {
	// Name is the backend ("firewalld"), Mode its variant ("ipset").
	Name string `json:"name"`
	Mode string `json:"mode,omitempty"`
	// Where says where the entries live ("zone drop, ipsets ...").
	Where         string    `json:"where,omitempty"`
	Up            bool      `json:"up"`
	LastReconcile time.Time `json:"last_reconcile,omitempty"`
	Detail        string    `json:"detail,omitempty"`
}

// Snapshot is everything the page shows, taken at one moment.
type Snapshot struct {
	Now      time.Time `json:"now"`
	Host     string    `json:"host,omitempty"`
	Paused   bool      `json:"paused"`
	DryRun   bool      `json:"dry_run"`
	Backend  Backend   `json:"backend"`
	Blocks   []Block   `json:"blocks"`
	Actions  []Event   `json:"actions"`
	Refusals []Event   `json:"refusals"`
}

// Source gives the page its data. The responder implements it; Snapshot is
// called once per page view and once per refresh, and must not block on
// firewalld.
type Source interface {
	Snapshot() Snapshot
}

// SourceFunc adapts a function to Source.
type SourceFunc func() Snapshot

// Snapshot implements Source.
func (f SourceFunc) Snapshot() Snapshot { return f() }

//go:embed page.html
var pageHTML string

var pageTmpl = template.Must(template.New("page").Parse(pageHTML))

// Handler serves the page at its root path and the snapshot as JSON at
// "status.json" beside it.
type Handler struct {
	src     Source
	refresh time.Duration
}

// New returns a Handler for src. The page refreshes every refresh (2 s when
// zero or negative).
func New(src Source, refresh time.Duration) *Handler {
	if refresh <= 0 {
		refresh = 2 * time.Second
	}
	return &Handler{src: src, refresh: refresh}
}

// Register mounts the page on mux at path (for example "/status") and its
// JSON at path+".json".
func (h *Handler) Register(mux *http.ServeMux, path string) {
	path = "/" + strings.Trim(path, "/")
	mux.HandleFunc("GET "+path, h.servePage)
	mux.HandleFunc("GET "+path+".json", h.serveJSON)
}

// ServeHTTP serves the JSON for a path ending in ".json", the page otherwise.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasSuffix(r.URL.Path, ".json") {
		h.serveJSON(w, r)
		return
	}
	h.servePage(w, r)
}

func (h *Handler) snapshot() Snapshot {
	s := h.src.Snapshot()
	if s.Now.IsZero() {
		s.Now = time.Now()
	}
	// Empty lists, not null, so the page's script needs no special case.
	if s.Blocks == nil {
		s.Blocks = []Block{}
	}
	if s.Actions == nil {
		s.Actions = []Event{}
	}
	if s.Refusals == nil {
		s.Refusals = []Event{}
	}
	return s
}

func (h *Handler) serveJSON(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(h.snapshot())
}

func (h *Handler) servePage(w http.ResponseWriter, r *http.Request) {
	snap, err := json.Marshal(h.snapshot())
	if err != nil {
		http.Error(w, "encode status: "+err.Error(), http.StatusInternalServerError)
		return
	}
	// The JSON endpoint sits beside the page: ".../status" -> ".../status.json".
	jsonURL := r.URL.Path
	if i := strings.LastIndex(jsonURL, "/"); i >= 0 {
		jsonURL = jsonURL[i+1:]
	}
	if jsonURL == "" {
		jsonURL = "status"
	}
	var buf bytes.Buffer
	err = pageTmpl.Execute(&buf, map[string]any{
		"Snapshot":  template.JS(snap),
		"JSONURL":   jsonURL + ".json",
		"RefreshMS": h.refresh.Milliseconds(),
	})
	if err != nil {
		http.Error(w, "render status page: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(buf.Bytes())
}

// Recent is a bounded, concurrency-safe log of the latest events, newest
// first, for a responder that keeps no history of its own.
type Recent struct {
	mu     sync.Mutex
	max    int
	events []Event
}

// NewRecent returns a log that keeps the newest max events (50 when max < 1).
func NewRecent(max int) *Recent {
	if max < 1 {
		max = 50
	}
	return &Recent{max: max}
}

// Add records e (its Time set to now when zero).
func (r *Recent) Add(e Event) {
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append([]Event{e}, r.events...)
	if len(r.events) > r.max {
		r.events = r.events[:r.max]
	}
}

// List returns a copy of the events, newest first.
func (r *Recent) List() []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Event(nil), r.events...)
}
