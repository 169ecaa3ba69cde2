package nftables

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net/netip"
	"os"
	"slices"
	"sync"
	"time"

	nft "github.com/google/nftables"
	"github.com/mdlayher/netlink"

	"github.com/synguard/synguard/internal/firewall"
	"github.com/synguard/synguard/internal/prefix"
)

// Backend is the nftables firewall.Backend. Its entries live in a table of
// its own, apart from the operator's rules, so it never reports
// firewall.Preexisting.
type Backend struct {
	cfg  Config
	log  *slog.Logger
	nsFd int // -1: the process's own namespace
	obj  objects

	mu       sync.Mutex
	prepared bool
	// owned is synguard's blocks (Applied, not yet Removed) and their
	// expiries; zero is none.
	owned map[netip.Prefix]time.Time
	// inSet is what the sets hold, as this backend last wrote or read it:
	// the minimal cover of owned, each with its kernel deadline (zero for
	// no timeout).
	inSet map[netip.Prefix]time.Time
}

var _ firewall.Backend = (*Backend)(nil)

// New returns an unprepared Backend for cfg (defaults filled). It opens
// cfg.Netns, if set, for the Backend's life: Close releases it.
func New(cfg Config, logger *slog.Logger) (*Backend, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("nftables backend: %w", err)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	b := &Backend{cfg: cfg, log: logger, nsFd: -1, obj: newObjects(cfg.Table),
		owned: map[netip.Prefix]time.Time{}, inSet: map[netip.Prefix]time.Time{}}
	if cfg.Netns != "" {
		f, err := os.Open(cfg.Netns)
		if err != nil {
			return nil, fmt.Errorf("nftables backend: open network namespace: %w", err)
		}
		// The fd outlives f's finaliser only as a dup of its own.
		fd, err := dupFd(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("nftables backend: keep network namespace %s: %w", cfg.Netns, err)
		}
		b.nsFd = fd
	}
	return b, nil
}

// Close releases the namespace New opened.
func (b *Backend) Close() error {
	if b.nsFd >= 0 {
		return closeFd(b.nsFd)
	}
	return nil
}

// Describe implements firewall.Backend.
func (b *Backend) Describe() firewall.Description {
	return firewall.Description{Backend: "nftables", Where: "table inet " + b.cfg.Table}
}

// conn is a netlink connection for one exchange, bounded by ctx's deadline
// or the call timeout.
func (b *Backend) conn(ctx context.Context) (*nft.Conn, error) {
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(b.cfg.CallTimeout)
	}
	opts := []nft.ConnOption{nft.WithSockOptions(func(c *netlink.Conn) error { return c.SetDeadline(deadline) })}
	if b.nsFd >= 0 {
		opts = append(opts, nft.WithNetNSFd(b.nsFd))
	}
	c, err := nft.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("nftables: open netlink: %w", err)
	}
	return c, ctx.Err()
}

// Prepare implements firewall.Backend: it makes the table when it is not
// there as it should be, and otherwise keeps what its sets hold (blocks
// survive a responder restart). held is not needed: everything in the
// table is synguard's, and nothing outside it is ever anyone's to own.
func (b *Backend) Prepare(ctx context.Context, held []netip.Prefix) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	c, err := b.conn(ctx)
	if err != nil {
		return err
	}
	ok, why, err := intact(c, b.obj)
	if err != nil {
		return fmt.Errorf("nftables: prepare table inet %s: %w", b.cfg.Table, err)
	}
	if !ok {
		b.log.Info("nftables: making synguard's table", "table", "inet "+b.cfg.Table, "why", why)
		if err := queueBuild(c, b.obj, [2][]nft.SetElement{}); err != nil {
			return err
		}
		if err := c.Flush(); err != nil {
			return fmt.Errorf("nftables: make table inet %s: %w", b.cfg.Table, err)
		}
		b.inSet = map[netip.Prefix]time.Time{}
	} else if b.inSet, err = b.read(c); err != nil {
		return err
	}
	// Everything in the sets is synguard's, held or not: an Add before the
	// first Sync must neither drop it nor shorten its kernel timeout, so
	// each is owned with the expiry its timeout implies.
	for q, dl := range b.inSet {
		if _, ok := b.owned[q]; !ok {
			if !dl.IsZero() {
				dl = dl.Add(-b.cfg.TimeoutGrace.Std())
			}
			b.owned[q] = dl
		}
	}
	b.prepared = true
	return nil
}

// read returns what the sets hold, with kernel deadlines.
func (b *Backend) read(c *nft.Conn) (map[netip.Prefix]time.Time, error) {
	now := time.Now()
	out := map[netip.Prefix]time.Time{}
	for i, s := range b.obj.sets {
		elems, err := c.GetSetElements(s)
		if err != nil {
			return nil, fmt.Errorf("nftables: read set %s: %w", s.Name, err)
		}
		for _, e := range fromElements(i, elems) {
			var dl time.Time
			if e.left > 0 {
				dl = now.Add(e.left)
			}
			out[e.p] = dl
		}
	}
	return out, nil
}

// deadline is the kernel deadline for a block expiring at exp.
func (b *Backend) deadline(exp time.Time) time.Time {
	if exp.IsZero() {
		return time.Time{}
	}
	return exp.Add(b.cfg.TimeoutGrace.Std())
}

// later reports whether deadline a lies after b by more than the kernel's
// rounding (zero is never).
func later(a, b time.Time) bool {
	switch {
	case a.IsZero():
		return !b.IsZero()
	case b.IsZero():
		return false
	}
	return a.After(b.Add(time.Second))
}

// plan is one batch: the cover to reach and how it differs from inSet.
type plan struct {
	next           map[netip.Prefix]time.Time
	add, del       []netip.Prefix
	renew          []netip.Prefix
	added, removed int
}

// planFor computes the batch that makes the sets hold the cover of want
// (prefix to block expiry), starting from cur. A deadline only ever grows:
// a kernel timeout already later than asked for is kept.
func (b *Backend) planFor(want, cur map[netip.Prefix]time.Time) plan {
	pl := plan{next: map[netip.Prefix]time.Time{}}
	for _, q := range cover(slices.Collect(maps.Keys(want))) {
		dl := b.deadline(want[q])
		old, ok := cur[q]
		switch {
		case !ok:
			pl.add = append(pl.add, q)
		case later(dl, old):
			pl.renew = append(pl.renew, q)
		default:
			dl = old
		}
		pl.next[q] = dl
	}
	for q := range cur {
		if _, ok := pl.next[q]; !ok {
			pl.del = append(pl.del, q)
		}
	}
	slices.SortFunc(pl.del, prefix.Compare)
	pl.added, pl.removed = len(pl.add), len(pl.del)
	return pl
}

// timeout is the element timeout that ends at dl; 0 for none.
func timeout(dl time.Time) time.Duration {
	if dl.IsZero() {
		return 0
	}
	return max(time.Until(dl).Round(time.Millisecond), time.Second)
}

// queue queues pl on c: deletions (and the old side of renewals) before
// additions, so that a wider prefix replacing narrower ones never overlaps
// them inside the batch.
func (b *Backend) queue(c *nft.Conn, pl plan) error {
	var del, add [2][]nft.SetElement
	for _, q := range append(slices.Clone(pl.del), pl.renew...) {
		del[famIndex(q)] = append(del[famIndex(q)], toElements(q, 0)...)
	}
	for _, q := range append(slices.Clone(pl.add), pl.renew...) {
		add[famIndex(q)] = append(add[famIndex(q)], toElements(q, timeout(pl.next[q]))...)
	}
	for i, s := range b.obj.sets {
		if len(del[i]) > 0 {
			if err := c.SetDeleteElements(s, del[i]); err != nil {
				return fmt.Errorf("nftables: queue deletions from %s: %w", s.Name, err)
			}
		}
	}
	for i, s := range b.obj.sets {
		if len(add[i]) > 0 {
			if err := c.SetAddElements(s, add[i]); err != nil {
				return fmt.Errorf("nftables: queue additions to %s: %w", s.Name, err)
			}
		}
	}
	return nil
}

// apply makes the sets hold the cover of want in one batch, from what
// inSet says they hold.
func (b *Backend) apply(ctx context.Context, op string, want map[netip.Prefix]time.Time) error {
	c, err := b.conn(ctx)
	if err != nil {
		return err
	}
	pl := b.planFor(want, b.inSet)
	if len(pl.add)+len(pl.del)+len(pl.renew) == 0 {
		return nil
	}
	if err := b.queue(c, pl); err != nil {
		return err
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("nftables %s: batch on table inet %s: %w", op, b.cfg.Table, err)
	}
	b.inSet = pl.next
	return nil
}

func (b *Backend) begin(op string) error {
	if !b.prepared {
		return fmt.Errorf("nftables %s: %w", op, firewall.ErrNotPrepared)
	}
	return nil
}

// Add implements firewall.Backend. A prefix inside a wider held one is
// Applied but stays out of the sets: the wider element drops it.
func (b *Backend) Add(ctx context.Context, entries []firewall.Entry) ([]firewall.Result, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.begin("add"); err != nil {
		return nil, err
	}
	want := maps.Clone(b.owned)
	out := make([]firewall.Result, 0, len(entries))
	for _, e := range entries {
		p, err := firewall.Check(e.Prefix)
		if err != nil {
			out = append(out, firewall.Result{Prefix: p, Outcome: firewall.Refused, Err: err})
			continue
		}
		want[p] = e.Expiry
		out = append(out, firewall.Result{Prefix: p, Outcome: firewall.Applied})
	}
	if err := b.apply(ctx, "add", want); err != nil {
		return nil, err
	}
	b.owned = want
	return out, nil
}

// Remove implements firewall.Backend. Narrower blocks a removed prefix
// covered go back into the sets in the same batch.
func (b *Backend) Remove(ctx context.Context, ps []netip.Prefix) ([]firewall.Result, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.begin("remove"); err != nil {
		return nil, err
	}
	want := maps.Clone(b.owned)
	out := make([]firewall.Result, 0, len(ps))
	for _, p := range ps {
		cp, err := firewall.Check(p)
		if err != nil {
			out = append(out, firewall.Result{Prefix: cp, Outcome: firewall.Refused, Err: err})
			continue
		}
		delete(want, cp)
		out = append(out, firewall.Result{Prefix: cp, Outcome: firewall.Removed})
	}
	if err := b.apply(ctx, "remove", want); err != nil {
		return nil, err
	}
	b.owned = want
	return out, nil
}

// Expiry returns the expiry synguard holds for p, for tests and the status
// page.
func (b *Backend) Expiry(p netip.Prefix) (time.Time, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	exp, ok := b.owned[prefix.Canonical(p)]
	return exp, ok
}
