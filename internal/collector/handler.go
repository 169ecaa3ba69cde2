package collector

import (
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// SelfName is the collector name of the binary's own metrics (build info,
// config reload status, go_* and process_*): a scrape that leaves it out
// of collect[] (the 1 s SYN_RECV job) gets none of them, so beside a
// second job that takes them each series comes from one job only.
const SelfName = "exporter"

// maxCached bounds the handlers kept per distinct selection. The names
// are checked against the known ones first, so the selections are the
// subsets of a handful of collectors; the bound only guards against a set
// of collectors grown far beyond today's. Past it a selection's handler is
// built for the one request and dropped.
const maxCached = 64

// Handler serves the metrics path: a Set's collectors and the binary's own
// metrics, or only those a scrape's collect[] or exclude[] selects (see
// Select). The registry and handler of each distinct selection are built
// once and kept, so a scrape allocates only what gathering it needs.
type Handler struct {
	set   *Set
	self  prometheus.Gatherer
	serve func(prometheus.Gatherer) http.Handler
	known []string

	mu    sync.Mutex
	cache map[string]http.Handler
}

// NewHandler returns a Handler of set's collectors and self, the binary's
// own metrics under SelfName; serve makes the HTTP handler of a gatherer
// (daemon.MetricsHandler). Add every collector to set before.
func NewHandler(set *Set, self prometheus.Gatherer, serve func(prometheus.Gatherer) http.Handler) *Handler {
	known := set.Names()
	if slices.Contains(known, SelfName) {
		panic(fmt.Sprintf("collector name %q is reserved for the binary's own metrics", SelfName))
	}
	known = append(known, SelfName)
	sort.Strings(known)
	return &Handler{set: set, self: self, serve: serve, known: known, cache: map[string]http.Handler{}}
}

// Known returns the collector names a scrape may select, sorted.
func (h *Handler) Known() []string { return slices.Clone(h.known) }

// ServeHTTP implements http.Handler: 400 with the reason and the known
// names for a selection Select refuses.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	names, err := Select(r.URL.Query(), h.known)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	h.handler(names).ServeHTTP(w, r)
}

// handler returns the cached handler of names (sorted, from Select),
// building it at its first use.
func (h *Handler) handler(names []string) http.Handler {
	key := strings.Join(names, ",")
	h.mu.Lock()
	defer h.mu.Unlock()
	if c, ok := h.cache[key]; ok {
		return c
	}
	c := h.build(names)
	if len(h.cache) < maxCached {
		h.cache[key] = c
	}
	return c
}

func (h *Handler) build(names []string) http.Handler {
	var gs prometheus.Gatherers
	var own []string
	for _, n := range names {
		if n == SelfName {
			gs = append(gs, h.self)
			continue
		}
		own = append(own, n)
	}
	if len(own) > 0 {
		reg := prometheus.NewRegistry()
		reg.MustRegister(h.set.Subset(own))
		gs = append(gs, reg)
	}
	if len(gs) == 1 {
		// The fast path (collect[]=syn_recv) gathers one registry
		// directly, without Gatherers' merge.
		return h.serve(gs[0])
	}
	return h.serve(gs)
}
