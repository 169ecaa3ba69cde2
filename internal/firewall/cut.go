package firewall

import (
	"context"
	"log/slog"
	"net/netip"
)

// CutFunc deletes the established connections of the given prefixes and
// says how many it deleted (conntrack.Cutter.Cut).
type CutFunc func(ps []netip.Prefix) (int, error)

// WithCut returns b, whose Add also cuts the established connections of
// every prefix it newly applies. A firewall that accepts established
// traffic before its drop rules (firewalld's zones, any stateful ruleset)
// would otherwise keep serving a flooding range's open sessions. A failed
// cut is logged and does not fail the block: the drop is in place, and the
// connections end by themselves.
func WithCut(b Backend, cut CutFunc, logger *slog.Logger) Backend {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &cutting{Backend: b, cut: cut, logger: logger}
}

type cutting struct {
	Backend
	cut    CutFunc
	logger *slog.Logger
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
	if len(ps) > 0 {
		n, cerr := c.cut(ps)
		if cerr != nil {
			c.logger.Warn("cut established connections of new blocks", "prefixes", len(ps), "err", cerr)
		} else if n > 0 {
			c.logger.Info("cut established connections of new blocks", "connections", n, "prefixes", len(ps))
		}
	}
	return rs, nil
}
