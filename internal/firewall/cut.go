package firewall

import (
	"context"
	"log/slog"
	"net/netip"
	"sync"
)

// CutFunc deletes the established connections of the given prefixes and
// says how many it deleted (conntrack.Cutter.Cut).
type CutFunc func(ps []netip.Prefix) (int, error)

// MaxPendingCut bounds the prefixes waiting for a cut: beyond it new ones
// are not cut (logged), so a flood of blocks while the conntrack table is
// slow to read cannot grow memory without end. Their new connections are
// dropped all the same.
const MaxPendingCut = 65536

// WithCut returns b, whose Add also cuts the established connections of
// every prefix it newly applies. A firewall that accepts established
// traffic before its drop rules (firewalld's zones, any stateful ruleset)
// would otherwise keep serving a flooding range's open sessions.
//
// The cut runs after Add has returned, in the background: the drop is in
// place first, and the caller's next call never waits for it. Reading the
// conntrack table during a SYN flood costs what the flood's entries cost
// (test/bench/results/firewalld.md); prefixes applied while a cut runs are
// cut together in the next one. A failed cut is logged and does not fail
// the block: the drop is in place, and the connections end by themselves.
func WithCut(b Backend, cut CutFunc, logger *slog.Logger) Backend {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &cutting{Backend: b, cut: cut, logger: logger, pending: map[netip.Prefix]struct{}{}}
}

type cutting struct {
	Backend
	cut    CutFunc
	logger *slog.Logger

	mu      sync.Mutex
	pending map[netip.Prefix]struct{}
	// running: a goroutine is cutting; it takes what is pending until
	// nothing is. idle, when not nil, is closed when it ends (tests).
	running bool
	idle    chan struct{}
	// cuts counts the cuts made (tests).
	cuts int
}

// Add implements Backend.
func (c *cutting) Add(ctx context.Context, entries []Entry) ([]Result, error) {
	rs, err := c.Backend.Add(ctx, entries)
	if err != nil {
		return rs, err
	}
	var ps []netip.Prefix
	for _, r := range rs {
		if r.Outcome == Applied {
			ps = append(ps, r.Prefix)
		}
	}
	c.schedule(ps)
	return rs, nil
}

// schedule queues ps for the next cut and starts one unless one runs.
func (c *cutting) schedule(ps []netip.Prefix) {
	if len(ps) == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	dropped := 0
	for _, p := range ps {
		if len(c.pending) >= MaxPendingCut {
			dropped++
			continue
		}
		c.pending[p] = struct{}{}
	}
	if dropped > 0 {
		c.logger.Warn("too many new blocks waiting for their connections to be cut; these are blocked but not cut",
			"prefixes", dropped, "waiting", len(c.pending))
	}
	if !c.running {
		c.running = true
		go c.run()
	}
}

// run cuts what is pending until nothing is.
func (c *cutting) run() {
	for {
		c.mu.Lock()
		if len(c.pending) == 0 {
			c.running = false
			if c.idle != nil {
				close(c.idle)
				c.idle = nil
			}
			c.mu.Unlock()
			return
		}
		ps := make([]netip.Prefix, 0, len(c.pending))
		for p := range c.pending {
			ps = append(ps, p)
		}
		clear(c.pending)
		c.cuts++
		c.mu.Unlock()
		n, err := c.cut(ps)
		if err != nil {
			c.logger.Warn("cut established connections of new blocks", "prefixes", len(ps), "err", err)
		} else if n > 0 {
			c.logger.Info("cut established connections of new blocks", "connections", n, "prefixes", len(ps))
		}
	}
}

// wait returns once no cut runs or is pending (tests).
func (c *cutting) wait() {
	c.mu.Lock()
	if !c.running {
		c.mu.Unlock()
		return
	}
	if c.idle == nil {
		c.idle = make(chan struct{})
	}
	idle := c.idle
	c.mu.Unlock()
	<-idle
}
