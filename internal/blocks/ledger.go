package blocks

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/synguard/synguard/internal/blockstore"
	"github.com/synguard/synguard/internal/firewall"
	"github.com/synguard/synguard/internal/origin"
	"github.com/synguard/synguard/internal/policy"
	"github.com/synguard/synguard/internal/prefix"
)

// OriginLookup tells who a prefix belongs to (an *origin.Source); an
// unknown origin is the zero Info.
type OriginLookup interface {
	Lookup(p netip.Prefix) origin.Info
}

// Options configure a Ledger.
type Options struct {
	Store  *blockstore.Store
	Policy policy.Config
	// Backend describes the firewall backend the blocks are applied with;
	// the store records it, and New refuses a store whose owned blocks
	// another backend (or mode) applied.
	Backend firewall.Description
	// Registerer gets the ledger's metrics (required).
	Registerer prometheus.Registerer
	Logger     *slog.Logger
	// OwnAddrs returns the host's own addresses, never blocked; nil: none.
	OwnAddrs func() ([]netip.Addr, error)
	// Origin, when set, tells who a prefix belongs to: the policy's origin
	// rules use it and each block records it.
	Origin OriginLookup
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Ledger decides and stores: every change of the blocks goes through it.
// It is safe for concurrent use.
type Ledger struct {
	opts   Options
	logger *slog.Logger
	m      *metrics
	now    func() time.Time

	mu      sync.Mutex
	store   *blockstore.Store
	pol     policy.Config
	origin  OriginLookup
	own     *prefix.Set
	limiter policy.Limiter
	active  map[string]int // active blocks by family
	pending queue
	recent  *recent
	// waiting holds firing alerts the rate limit or the cap refused, by
	// prefix (waiting.go).
	waiting map[netip.Prefix]waitingAlert
	// wake tells the driver that work is queued (nil before SetWake).
	wake func()

	// combine groups the notifications that arrive together (combine.go);
	// its lock is never taken under mu.
	combine combiner
}

// ErrOtherBackend is returned by New for a state file whose owned blocks
// another backend or mode applied.
var ErrOtherBackend = errors.New("state file belongs to another firewall backend")

// New returns a Ledger over opts.Store.
func New(opts Options) (*Ledger, error) {
	if opts.Store == nil || opts.Registerer == nil {
		return nil, errors.New("blocks: store and registerer are required")
	}
	if err := opts.Policy.Validate(); err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	for _, r := range opts.Store.Repairs() {
		opts.Logger.Warn("state repaired or migrated at start", "detail", r)
	}
	if err := checkBackend(opts.Store, opts.Backend); err != nil {
		return nil, err
	}
	l := &Ledger{
		opts: opts, logger: opts.Logger, m: newMetrics(opts.Registerer), now: opts.Now,
		store: opts.Store, pol: opts.Policy, origin: opts.Origin, recent: newRecent(50),
	}
	opts.Registerer.MustRegister(expiryCollector{l})
	l.m.max.Set(float64(opts.Policy.MaxActive))
	l.RefreshOwn()
	l.mu.Lock()
	l.recountLocked()
	l.m.paused.Set(b2f(l.store.Paused()))
	l.widenSweepLocked()
	l.mu.Unlock()
	return l, nil
}

// checkBackend refuses a store whose owned blocks were applied by another
// backend or mode: this one could neither see nor lift them. A store
// without owned blocks (new, or purged) simply takes the new backend. A
// store from before backends were recorded was written by firewalld.
func checkBackend(s *blockstore.Store, d firewall.Description) error {
	name, mode := s.Backend()
	if name == "" {
		name = "firewalld"
	}
	owned := 0
	s.Each(func(b blockstore.Block) {
		if b.Owned() {
			owned++
		}
	})
	same := name == d.Backend && (mode == "" || mode == d.Mode)
	if owned > 0 && !same {
		was := firewall.Description{Backend: name, Mode: mode}
		return fmt.Errorf("%s holds %d blocks applied by backend %s, and this configuration uses %s: "+
			"run `synguard-responder purge` with the configuration that made them first (it lifts them), then start with this one: %w",
			s.Path(), owned, was, d, ErrOtherBackend)
	}
	if name != d.Backend || mode != d.Mode {
		s.SetBackend(d.Backend, d.Mode)
	}
	return nil
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// SetWake sets the function that tells the driver work is queued.
func (l *Ledger) SetWake(wake func()) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.wake = wake
}

func (l *Ledger) wakeLocked() {
	if l.wake != nil {
		l.wake()
	}
}

// SetPolicy replaces the policy (on a config reload).
func (l *Ledger) SetPolicy(p policy.Config) error {
	if err := p.Validate(); err != nil {
		return err
	}
	l.mu.Lock()
	l.pol = p
	l.mu.Unlock()
	l.m.max.Set(float64(p.MaxActive))
	l.RefreshOwn()
	l.liftAllowlisted()
	l.mu.Lock()
	l.widenSweepLocked()
	l.mu.Unlock()
	return nil
}

// liftAllowlisted lifts every active block that overlaps the allowlist or
// the host's own addresses now, whole (never split: a block is one
// decision), as after a reload that allowlisted a range or a new own
// address. Operators' blocks too: the allowlist always wins.
func (l *Ledger) liftAllowlisted() {
	l.mu.Lock()
	defer l.mu.Unlock()
	var hit []blockstore.Block
	l.store.Each(func(b blockstore.Block) {
		if b.Active && l.pol.Allowlisted(b.Prefix, l.own) {
			hit = append(hit, b)
		}
	})
	if len(hit) == 0 {
		return
	}
	c := l.newChange()
	for _, b := range hit {
		nb := l.lifted(b, blockstore.LiftAllowlisted)
		c.lift(nb)
		c.then(func() {
			l.record(ActionAllowlist, ResultOK, nb, "detail", "the allowlist or an own address overlaps it")
		})
	}
	if err := c.commit(); err != nil {
		l.logger.Error("lift blocks the allowlist overlaps; retried at the next reload or own-address check", "blocks", len(hit), "err", err)
	}
}

// SetOrigin replaces the origin lookup (nil: none), as a reload that
// changed the databases does.
func (l *Ledger) SetOrigin(o OriginLookup) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.origin = o
}

// RefreshOwn reads the host's own addresses for the allowlist. On error the
// previous set is kept: forgetting an own address could block it.
func (l *Ledger) RefreshOwn() {
	if l.opts.OwnAddrs == nil {
		return
	}
	addrs, err := l.opts.OwnAddrs()
	if err != nil {
		l.logger.Warn("read own addresses; keeping the previous list", "err", err)
		return
	}
	ps := make([]netip.Prefix, 0, len(addrs))
	for _, a := range addrs {
		a = prefix.CanonicalAddr(a)
		ps = append(ps, netip.PrefixFrom(a, a.BitLen()))
	}
	s := prefix.NewSet(ps...)
	l.mu.Lock()
	l.own = s
	l.mu.Unlock()
	l.liftAllowlisted()
}

func (l *Ledger) recountLocked() {
	l.active = map[string]int{prefix.FamilyIPv4: 0, prefix.FamilyIPv6: 0}
	l.store.Each(func(b blockstore.Block) {
		if b.Active {
			l.active[b.Family()]++
		}
	})
	for f, n := range l.active {
		l.m.active.WithLabelValues(f).Set(float64(n))
	}
}

func (l *Ledger) lookupOriginLocked(p netip.Prefix) origin.Info {
	if l.origin == nil {
		return origin.Info{}
	}
	return l.origin.Lookup(p)
}

// view is policy.View over the store, for one call holding l.mu: pending
// counts the blocks admitted earlier in the same call.
type view struct {
	l       *Ledger
	now     time.Time
	pending int
}

func (v *view) Now() time.Time   { return v.now }
func (v *view) Paused() bool     { return v.l.store.Paused() }
func (v *view) Own() *prefix.Set { return v.l.own }
func (v *view) ActiveCount() int {
	return v.l.active[prefix.FamilyIPv4] + v.l.active[prefix.FamilyIPv6] + v.pending
}
func (v *view) Origin(p netip.Prefix) origin.Info { return v.l.lookupOriginLocked(p) }
func (v *view) Allow() bool {
	return v.l.limiter.Allow(v.now, v.l.pol.RatePerMinute, v.l.pol.Burst)
}
func (v *view) Current(p netip.Prefix) (policy.Current, bool) {
	b, ok := v.l.store.Get(p)
	if !ok {
		return policy.Current{}, false
	}
	return current(b), true
}

// Within scans the store: it is asked only for a new alert block (rate
// limited) or one the cap refused, ~100 µs at 10,000 records.
func (v *view) Within(w netip.Prefix) []policy.Current {
	var out []policy.Current
	v.l.store.Each(func(b blockstore.Block) {
		if b.Active && b.Prefix.Bits() > w.Bits() && w.Contains(b.Prefix.Addr()) {
			out = append(out, current(b))
		}
	})
	return out
}

func current(b blockstore.Block) policy.Current {
	return policy.Current{
		Active: b.Active, FromAlert: b.Source == blockstore.SourceAlert || b.Source == blockstore.SourceWiden, Since: b.Since, Expiry: b.Expiry,
		Offences: b.Offences, LastLifted: b.LastLifted, Prefix: b.Prefix, Widened: b.Source == blockstore.SourceWiden,
	}
}

var _ policy.View = (*view)(nil)
