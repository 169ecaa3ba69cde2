package reconcile

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/synguard/synguard/internal/blockstore"
	"github.com/synguard/synguard/internal/origin"
	"github.com/synguard/synguard/internal/policy"
	"github.com/synguard/synguard/internal/prefix"
	"github.com/synguard/synguard/internal/webhook"
)

// Firewall is what the engine needs of firewalld (internal/firewalld's
// Client). Every method must be idempotent.
type Firewall interface {
	// Setup checks firewalld and prepares the zone (and sets).
	Setup(ctx context.Context) error
	// Add and Remove change the given prefixes only.
	Add(ctx context.Context, ps []netip.Prefix) error
	Remove(ctx context.Context, ps []netip.Prefix) error
	// Sync makes firewalld hold every desired prefix and no owned prefix
	// that is not desired, and says how many entries it changed.
	Sync(ctx context.Context, desired, owned []netip.Prefix) (added, removed int, err error)
	// AfterRestart prepares a firewalld that has just started again.
	AfterRestart(ctx context.Context) error
	// Restarted reports a firewalld that started again since Setup or
	// AfterRestart last ran, whether or not its signal has arrived.
	Restarted(ctx context.Context) (bool, error)
	// List returns the prefixes firewalld holds now.
	List(ctx context.Context) ([]netip.Prefix, error)
}

// Event is a change of firewalld that drops runtime state.
type Event int

// Events the engine reacts to.
const (
	// EventReloaded: firewalld reloaded; runtime entries are gone.
	EventReloaded Event = iota + 1
	// EventStarted: firewalld (re)started; after a crash its stale kernel
	// rules may still drop lifted ranges.
	EventStarted
	// EventStopped: firewalld left the bus.
	EventStopped
)

// Options configure an Engine.
type Options struct {
	Store    *blockstore.Store
	Firewall Firewall
	Policy   policy.Config
	// Registerer gets the engine's metrics (required).
	Registerer prometheus.Registerer
	Logger     *slog.Logger
	// Interval is the period of the full reconcile (default 1 min).
	Interval time.Duration
	// MinBackoff and MaxBackoff bound the retry delay while firewalld fails
	// (defaults 500 ms and 30 s).
	MinBackoff, MaxBackoff time.Duration
	// OwnAddrs returns the host's own addresses, never blocked; nil: none.
	OwnAddrs func() ([]netip.Addr, error)
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Mode and Zone describe the firewall for the status snapshot.
	Mode, Zone string
	// Origin, when set, tells who a prefix belongs to: the policy's origin
	// filter uses it and each block records it.
	Origin OriginLookup
}

// OriginLookup tells who a prefix belongs to (an *origin.Source); an
// unknown origin is the zero Info.
type OriginLookup interface {
	Lookup(p netip.Prefix) origin.Info
}

// Engine applies policy to alerts and requests, owns the blocks and keeps
// firewalld in step with them.
type Engine struct {
	opts   Options
	fw     Firewall
	logger *slog.Logger
	m      *metrics
	now    func() time.Time

	mu        sync.Mutex
	store     *blockstore.Store
	pol       policy.Config
	origin    OriginLookup
	own       *prefix.Set
	limiter   policy.Limiter
	active    map[string]int // active blocks by family
	pendAdd   map[netip.Prefix]struct{}
	pendRm    map[netip.Prefix]struct{}
	needSetup bool
	needSync  bool
	needRest  bool
	fwUp      bool
	fwDetail  string
	lastSync  time.Time
	retryAt   time.Time
	backoff   time.Duration
	reqSeq    uint64
	doneSeq   uint64
	lastErr   error
	done      chan struct{} // closed and replaced after each step
	recent    *recent

	kick chan struct{}
}

// New returns an Engine; Run starts it.
func New(opts Options) (*Engine, error) {
	if opts.Store == nil || opts.Firewall == nil || opts.Registerer == nil {
		return nil, errors.New("reconcile: store, firewall and registerer are required")
	}
	if err := opts.Policy.Validate(); err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Interval <= 0 {
		opts.Interval = time.Minute
	}
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = 500 * time.Millisecond
	}
	if opts.MaxBackoff < opts.MinBackoff {
		opts.MaxBackoff = max(30*time.Second, opts.MinBackoff)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	e := &Engine{
		opts:      opts,
		fw:        opts.Firewall,
		logger:    opts.Logger,
		m:         newMetrics(opts.Registerer),
		now:       opts.Now,
		store:     opts.Store,
		pol:       opts.Policy,
		origin:    opts.Origin,
		pendAdd:   map[netip.Prefix]struct{}{},
		pendRm:    map[netip.Prefix]struct{}{},
		needSetup: true,
		needSync:  true,
		done:      make(chan struct{}),
		recent:    newRecent(50),
		kick:      make(chan struct{}, 1),
	}
	opts.Registerer.MustRegister(expiryCollector{e})
	e.m.max.Set(float64(opts.Policy.MaxActive))
	e.refreshOwn()
	e.mu.Lock()
	e.recountLocked()
	e.m.paused.Set(b2f(e.store.Paused()))
	e.mu.Unlock()
	return e, nil
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// SetPolicy replaces the policy (on a config reload).
func (e *Engine) SetPolicy(p policy.Config) error {
	if err := p.Validate(); err != nil {
		return err
	}
	e.mu.Lock()
	e.pol = p
	e.mu.Unlock()
	e.m.max.Set(float64(p.MaxActive))
	e.refreshOwn()
	return nil
}

// refreshOwn reads the host's own addresses for the allowlist. On error the
// previous set is kept: forgetting an own address could block it.
func (e *Engine) refreshOwn() {
	if e.opts.OwnAddrs == nil {
		return
	}
	addrs, err := e.opts.OwnAddrs()
	if err != nil {
		e.logger.Warn("read own addresses; keeping the previous list", "err", err)
		return
	}
	ps := make([]netip.Prefix, 0, len(addrs))
	for _, a := range addrs {
		a = prefix.CanonicalAddr(a)
		ps = append(ps, netip.PrefixFrom(a, a.BitLen()))
	}
	s := prefix.NewSet(ps...)
	e.mu.Lock()
	e.own = s
	e.mu.Unlock()
}

func (e *Engine) recountLocked() {
	e.active = map[string]int{prefix.FamilyIPv4: 0, prefix.FamilyIPv6: 0}
	e.store.Each(func(b blockstore.Block) {
		if b.Active {
			e.active[b.Family()]++
		}
	})
	for f, n := range e.active {
		e.m.active.WithLabelValues(f).Set(float64(n))
	}
}

func (e *Engine) activeLocked() int { return e.active[prefix.FamilyIPv4] + e.active[prefix.FamilyIPv6] }

// change records a modification of the store so that it can be undone if
// saving fails.
type change struct {
	e      *Engine
	before map[netip.Prefix]*blockstore.Block
	add    []netip.Prefix
	rm     []netip.Prefix
	// done runs after a successful save: metrics and audit lines.
	done []func()
}

func (e *Engine) newChange() *change {
	return &change{e: e, before: map[netip.Prefix]*blockstore.Block{}}
}

func (c *change) put(b blockstore.Block) {
	if _, seen := c.before[b.Prefix]; !seen {
		if old, ok := c.e.store.Get(b.Prefix); ok {
			c.before[b.Prefix] = &old
		} else {
			c.before[b.Prefix] = nil
		}
	}
	c.e.store.Put(b)
}

// commit saves the store and queues the firewall work, or undoes every
// change if the save fails.
func (c *change) commit() error {
	e := c.e
	if len(c.before) == 0 {
		return nil
	}
	if err := e.store.Save(); err != nil {
		for p, old := range c.before {
			if old == nil {
				e.store.Delete(p)
			} else {
				e.store.Put(*old)
			}
		}
		e.recountLocked()
		return err
	}
	for _, p := range c.add {
		e.pendAdd[p] = struct{}{}
		delete(e.pendRm, p)
	}
	for _, p := range c.rm {
		e.pendRm[p] = struct{}{}
		delete(e.pendAdd, p)
	}
	e.recountLocked()
	for _, f := range c.done {
		f()
	}
	if len(c.add)+len(c.rm) > 0 {
		e.wakeLocked()
	}
	return nil
}

func (e *Engine) wakeLocked() {
	e.reqSeq++
	select {
	case e.kick <- struct{}{}:
	default:
	}
}

func (e *Engine) refuseLocked(r policy.Reason, p netip.Prefix, detail string) {
	e.m.refused.WithLabelValues(string(r)).Inc()
	e.recent.refusal(e.now(), r, p, detail)
}

// CountRefused implements webhook.Responder.
func (e *Engine) CountRefused(r policy.Reason, n int) {
	e.m.refused.WithLabelValues(string(r)).Add(float64(n))
	e.mu.Lock()
	e.recent.refusal(e.now(), r, netip.Prefix{}, fmt.Sprintf("%d", n))
	e.mu.Unlock()
}

func (e *Engine) audit(action, result string, b blockstore.Block, extra ...any) {
	args := []any{"action", action, "result", result, "prefix", b.Prefix.String()}
	if action == ActionBlock {
		args = append(args, "block_source", b.Source, "alert", b.Alert, "expiry", b.Expiry.UTC().Format(time.RFC3339), "offences", b.Offences)
	}
	e.logger.Info("audit", append(args, extra...)...)
	e.recent.action(e.now(), action, result, b.Prefix, "")
}

// HandleAlerts implements webhook.Responder: every alert passes the policy,
// new blocks are saved in one write before any firewall call, and the
// firewall follows asynchronously. An error means nothing was changed.
func (e *Engine) HandleAlerts(ctx context.Context, alerts []policy.Alert) (webhook.Result, error) {
	res := webhook.Result{Refused: map[policy.Reason]int{}}
	e.mu.Lock()
	defer e.mu.Unlock()
	refuse := func(r policy.Reason, p netip.Prefix, a policy.Alert) {
		res.Refused[r]++
		e.refuseLocked(r, p, a.Name())
		if r == policy.ReasonAllowlisted || r == policy.ReasonTooBroad {
			e.logger.Warn("alert refused", "reason", r, "prefix", p.String(), "alert", a.Name())
		}
	}
	if e.store.Paused() {
		for _, a := range alerts {
			refuse(policy.ReasonPaused, netip.Prefix{}, a)
		}
		return res, nil
	}
	now := e.now()
	pol := &e.pol
	c := e.newChange()
	for _, a := range alerts {
		if r := pol.Selects(a); r != policy.ReasonNone {
			refuse(r, netip.Prefix{}, a)
			continue
		}
		p, r := pol.AlertPrefix(a)
		if r == policy.ReasonNone {
			r = pol.Check(p, e.own)
		}
		if r != policy.ReasonNone {
			refuse(r, p, a)
			continue
		}
		org := e.lookupOriginLocked(p)
		if a.Firing {
			if r := pol.CheckOrigin(org); r != policy.ReasonNone {
				refuse(r, p, a)
				continue
			}
		}
		old, exists := e.store.Get(p)
		if !a.Firing {
			if !exists || !old.Active || old.Source != blockstore.SourceAlert {
				e.m.actions.WithLabelValues(ActionResolve, ResultIgnored).Inc()
				continue
			}
			exp := pol.ResolvedExpiry(old.Since, old.Expiry, now)
			if exp.Equal(old.Expiry) {
				e.m.actions.WithLabelValues(ActionResolve, ResultIgnored).Inc()
				continue
			}
			if pol.DryRun {
				e.m.actions.WithLabelValues(ActionResolve, ResultDryRun).Inc()
				e.audit(ActionResolve, ResultDryRun, old, "would_expire", exp.UTC().Format(time.RFC3339))
				continue
			}
			nb := old
			nb.Expiry = exp
			c.put(nb)
			res.Lifted++
			c.done = append(c.done, func() {
				e.m.actions.WithLabelValues(ActionResolve, ResultOK).Inc()
				e.audit(ActionResolve, ResultOK, nb, "new_expiry", exp.UTC().Format(time.RFC3339))
			})
			// The expiry check of the next step lifts it when due.
			e.wakeLocked()
			continue
		}
		if exists && old.Active {
			res.Duplicates++
			e.m.actions.WithLabelValues(ActionBlock, ResultDuplicate).Inc()
			continue
		}
		if e.activeLocked()+len(c.add) >= pol.MaxActive {
			refuse(policy.ReasonCapReached, p, a)
			continue
		}
		if !e.limiter.Allow(now, pol.RatePerMinute, pol.Burst) {
			refuse(policy.ReasonRateLimited, p, a)
			continue
		}
		nb := e.newBlock(p, old, now, 0)
		nb.Source, nb.Alert, nb.Reason = blockstore.SourceAlert, a.Name(), a.Summary
		nb.Origin = originRecord(org)
		if pol.DryRun {
			res.Blocked++
			e.m.actions.WithLabelValues(ActionBlock, ResultDryRun).Inc()
			e.audit(ActionBlock, ResultDryRun, nb)
			continue
		}
		c.put(nb)
		c.add = append(c.add, p)
		res.Blocked++
		c.done = append(c.done, func() {
			e.m.actions.WithLabelValues(ActionBlock, ResultOK).Inc()
			e.audit(ActionBlock, ResultOK, nb)
		})
	}
	if err := c.commit(); err != nil {
		e.m.actions.WithLabelValues(ActionBlock, ResultFailed).Add(float64(len(c.done)))
		return webhook.Result{}, fmt.Errorf("save state: %w", err)
	}
	if len(res.Refused) == 0 {
		res.Refused = nil
	}
	return res, nil
}

// SetOrigin replaces the origin lookup (nil: none), as a reload that
// changed the databases does.
func (e *Engine) SetOrigin(l OriginLookup) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.origin = l
}

func (e *Engine) lookupOriginLocked(p netip.Prefix) origin.Info {
	if e.origin == nil {
		return origin.Info{}
	}
	return e.origin.Lookup(p)
}

// originRecord is what a block keeps of an origin: nothing when unknown.
func originRecord(i origin.Info) *origin.Info {
	if !i.Known() {
		return nil
	}
	return &i
}

// newBlock returns the record of a new block of p (whose previous record,
// if any, is old) starting at now, lasting d or, when d is 0, the policy's
// duration for its offence number.
func (e *Engine) newBlock(p netip.Prefix, old blockstore.Block, now time.Time, d time.Duration) blockstore.Block {
	off := e.pol.Offences(old.Offences, old.LastLifted, now)
	if d <= 0 {
		d = e.pol.Duration(off)
	}
	return blockstore.Block{
		Prefix: p, Since: now, Expiry: now.Add(d), Offences: off,
		Active: true, Installed: true, LastLifted: old.LastLifted, LiftReason: old.LiftReason,
	}
}

// ErrRefused wraps a policy refusal of an operator's request.
type ErrRefused struct{ Reason policy.Reason }

// Error implements error.
func (e *ErrRefused) Error() string { return "refused: " + string(e.Reason) }

var _ error = &ErrRefused{}

// ErrNotBlocked is returned by Unblock for a prefix without an active block.
var ErrNotBlocked = errors.New("prefix is not blocked")

// Block blocks p at an operator's request, for d (0: the policy's duration
// for its offence number). The allowlist and minimum length apply as to
// alerts; the rate limit does not. It returns the block and whether it was
// new; an active block is extended if d reaches further.
func (e *Engine) Block(ctx context.Context, p netip.Prefix, d time.Duration, reason string) (blockstore.Block, bool, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	p = prefix.Canonical(p)
	if r := e.pol.Check(p, e.own); r != policy.ReasonNone {
		e.refuseLocked(r, p, "operator")
		return blockstore.Block{}, false, &ErrRefused{r}
	}
	now := e.now()
	old, exists := e.store.Get(p)
	c := e.newChange()
	if exists && old.Active {
		if d <= 0 || !now.Add(d).After(old.Expiry) {
			e.m.actions.WithLabelValues(ActionBlock, ResultDuplicate).Inc()
			return old, false, nil
		}
		nb := old
		nb.Expiry = now.Add(d)
		if e.pol.DryRun {
			e.m.actions.WithLabelValues(ActionBlock, ResultDryRun).Inc()
			e.audit(ActionBlock, ResultDryRun, nb, "extend", true)
			return nb, false, nil
		}
		c.put(nb)
		if err := c.commit(); err != nil {
			e.m.actions.WithLabelValues(ActionBlock, ResultFailed).Inc()
			return blockstore.Block{}, false, fmt.Errorf("save state: %w", err)
		}
		e.m.actions.WithLabelValues(ActionBlock, ResultOK).Inc()
		e.audit(ActionBlock, ResultOK, nb, "extend", true)
		return nb, false, nil
	}
	if e.activeLocked() >= e.pol.MaxActive {
		e.refuseLocked(policy.ReasonCapReached, p, "operator")
		return blockstore.Block{}, false, &ErrRefused{policy.ReasonCapReached}
	}
	nb := e.newBlock(p, old, now, d)
	nb.Source, nb.Reason = blockstore.SourceManual, reason
	nb.Origin = originRecord(e.lookupOriginLocked(p))
	if e.pol.DryRun {
		e.m.actions.WithLabelValues(ActionBlock, ResultDryRun).Inc()
		e.audit(ActionBlock, ResultDryRun, nb)
		return nb, true, nil
	}
	c.put(nb)
	c.add = append(c.add, p)
	if err := c.commit(); err != nil {
		e.m.actions.WithLabelValues(ActionBlock, ResultFailed).Inc()
		return blockstore.Block{}, false, fmt.Errorf("save state: %w", err)
	}
	e.m.actions.WithLabelValues(ActionBlock, ResultOK).Inc()
	e.audit(ActionBlock, ResultOK, nb)
	return nb, true, nil
}

// Unblock lifts the active block of p at an operator's request. Its offences
// are remembered.
func (e *Engine) Unblock(ctx context.Context, p netip.Prefix) (blockstore.Block, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	p = prefix.Canonical(p)
	old, exists := e.store.Get(p)
	if !exists || !old.Active {
		return blockstore.Block{}, ErrNotBlocked
	}
	if e.pol.DryRun {
		e.m.actions.WithLabelValues(ActionUnblock, ResultDryRun).Inc()
		e.audit(ActionUnblock, ResultDryRun, old)
		return old, nil
	}
	nb := e.lifted(old, blockstore.LiftManual)
	c := e.newChange()
	c.put(nb)
	c.rm = append(c.rm, p)
	if err := c.commit(); err != nil {
		e.m.actions.WithLabelValues(ActionUnblock, ResultFailed).Inc()
		return blockstore.Block{}, fmt.Errorf("save state: %w", err)
	}
	e.m.actions.WithLabelValues(ActionUnblock, ResultOK).Inc()
	e.audit(ActionUnblock, ResultOK, nb)
	return nb, nil
}

func (e *Engine) lifted(b blockstore.Block, why string) blockstore.Block {
	b.Active = false
	b.LastLifted = e.now()
	b.LiftReason = why
	return b
}

// SetPaused sets the pause switch: while paused, alerts are acknowledged
// and change nothing; expiry, reconcile and the operator's requests go on.
func (e *Engine) SetPaused(p bool) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.store.Paused() == p {
		return nil
	}
	e.store.SetPaused(p)
	if err := e.store.Save(); err != nil {
		e.store.SetPaused(!p)
		return fmt.Errorf("save state: %w", err)
	}
	e.m.paused.Set(b2f(p))
	e.logger.Info("audit", "action", "pause", "paused", p)
	e.recent.action(e.now(), "pause", fmt.Sprint(p), netip.Prefix{}, "")
	return nil
}

// Notify tells the engine what firewalld did (from its D-Bus signals).
func (e *Engine) Notify(ev Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	switch ev {
	case EventReloaded:
		e.logger.Info("firewalld reloaded; restoring blocks")
		e.needSync = true
	case EventStarted:
		e.logger.Info("firewalld started; restoring blocks")
		e.needRest, e.needSync = true, true
	case EventStopped:
		e.logger.Warn("firewalld stopped; blocks are kept and restored when it is back")
		e.setUpLocked(false, "stopped")
		return
	}
	e.retryAt, e.backoff = time.Time{}, 0
	e.wakeLocked()
}

func (e *Engine) setUpLocked(up bool, detail string) {
	e.fwUp, e.fwDetail = up, detail
	e.m.up.Set(b2f(up))
}

// Flush runs a step now (unless firewalld is in backoff, then at its retry)
// and waits for it; it returns that step's error.
func (e *Engine) Flush(ctx context.Context) error {
	e.mu.Lock()
	e.wakeLocked()
	want := e.reqSeq
	for e.doneSeq < want {
		done := e.done
		e.mu.Unlock()
		select {
		case <-done:
		case <-ctx.Done():
			return ctx.Err()
		}
		e.mu.Lock()
	}
	err := e.lastErr
	e.mu.Unlock()
	return err
}

// Run reconciles until ctx ends: first it lifts what expired while the
// responder was down, then it makes firewalld match, and from then on it
// applies new blocks and lifts, enforces expiry, runs a full reconcile every
// Interval and after firewalld's events, and retries failures with backoff.
func (e *Engine) Run(ctx context.Context) {
	periodic := e.now().Add(e.opts.Interval)
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		e.step(ctx)
		e.mu.Lock()
		now := e.now()
		if !now.Before(periodic) {
			e.needSync = true
			periodic = now.Add(e.opts.Interval)
			e.mu.Unlock()
			e.refreshOwn()
			continue
		}
		wake := periodic
		if next, ok := e.nextExpiryLocked(); ok && next.Before(wake) {
			wake = next
		}
		if !e.retryAt.IsZero() && e.retryAt.Before(wake) {
			wake = e.retryAt
		}
		e.mu.Unlock()
		timer.Reset(max(wake.Sub(now), time.Millisecond))
		select {
		case <-ctx.Done():
			e.saveOnExit()
			return
		case <-timer.C:
		case <-e.kick:
			e.mu.Lock()
			wait := e.retryAt.Sub(e.now())
			e.mu.Unlock()
			if wait > 0 {
				// In backoff: keep the kick for the retry.
				if !timer.Stop() {
					<-timer.C
				}
				timer.Reset(wait)
				select {
				case <-ctx.Done():
					e.saveOnExit()
					return
				case <-timer.C:
				}
			}
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
	}
}

// saveOnExit saves what firewalld confirmed since the last change.
func (e *Engine) saveOnExit() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.store.Save(); err != nil {
		e.logger.Warn("save state at exit", "err", err)
	}
}

func (e *Engine) nextExpiryLocked() (time.Time, bool) {
	var next time.Time
	e.store.Each(func(b blockstore.Block) {
		if b.Active && (next.IsZero() || b.Expiry.Before(next)) {
			next = b.Expiry
		}
	})
	return next, !next.IsZero()
}

// expireLocked lifts every active block whose expiry has come.
func (e *Engine) expireLocked(now time.Time) {
	var due []blockstore.Block
	e.store.Each(func(b blockstore.Block) {
		if b.Active && !b.Expiry.After(now) {
			due = append(due, b)
		}
	})
	c := e.newChange()
	for _, b := range due {
		nb := e.lifted(b, blockstore.LiftExpired)
		c.put(nb)
		c.rm = append(c.rm, b.Prefix)
		c.done = append(c.done, func() {
			e.m.actions.WithLabelValues(ActionExpire, ResultOK).Inc()
			e.audit(ActionExpire, ResultOK, nb, "expired_at", b.Expiry.UTC().Format(time.RFC3339))
		})
	}
	if err := c.commit(); err != nil {
		// Retried next step; until then firewalld keeps blocking.
		e.logger.Error("save state after expiry; retrying", "err", err)
	}
}

// pruneLocked forgets lifted blocks whose offences are no longer remembered.
func (e *Engine) pruneLocked(now time.Time) bool {
	var old []netip.Prefix
	e.store.Each(func(b blockstore.Block) {
		if !b.Owned() && e.pol.OffenceMemory > 0 && now.Sub(b.LastLifted) > e.pol.OffenceMemory {
			old = append(old, b.Prefix)
		}
	})
	for _, p := range old {
		e.store.Delete(p)
	}
	return len(old) > 0
}

// step makes one round of firewall calls for what is pending.
func (e *Engine) step(ctx context.Context) {
	// A retry can reach a restarted firewalld before its NameOwnerChanged
	// signal does (or the signal is lost with the bus connection): asking
	// who owns firewalld's name now makes sure no block is restored or
	// lifted in a crashed firewalld's successor before AfterRestart has
	// cleared the stale kernel rules the crash left.
	if restarted, err := e.fw.Restarted(ctx); err == nil && restarted {
		e.mu.Lock()
		if !e.needRest {
			e.logger.Info("firewalld has a new owner on the bus: handling it as a restart")
		}
		e.needRest, e.needSync = true, true
		e.mu.Unlock()
	}
	e.mu.Lock()
	seq := e.reqSeq
	now := e.now()
	e.expireLocked(now)
	setup, restart, sync := e.needSetup, e.needRest, e.needSync
	adds := slices.Collect(maps.Keys(e.pendAdd))
	rms := slices.Collect(maps.Keys(e.pendRm))
	e.pendAdd, e.pendRm = map[netip.Prefix]struct{}{}, map[netip.Prefix]struct{}{}
	e.needSetup, e.needRest, e.needSync = false, false, false
	var desired, owned, confirmed []netip.Prefix
	if setup || restart || sync {
		e.store.Each(func(b blockstore.Block) {
			if b.Active {
				desired = append(desired, b.Prefix)
				if b.Applied {
					confirmed = append(confirmed, b.Prefix)
				}
			}
			if b.Owned() {
				owned = append(owned, b.Prefix)
			}
		})
		sync = true
	}
	e.mu.Unlock()

	var err error
	op := ""
	added, removed := 0, 0
	switch {
	case restart:
		op = opRestart
		err = e.fw.AfterRestart(ctx)
		if err == nil {
			op = opSync
			added, removed, err = e.fw.Sync(ctx, desired, owned)
		}
	case setup:
		op = opSetup
		err = e.fw.Setup(ctx)
		if err == nil && len(confirmed) > 0 && e.lostConfirmed(ctx, confirmed) {
			op = opRestart
			err = e.fw.AfterRestart(ctx)
		}
		if err == nil {
			op = opSync
			added, removed, err = e.fw.Sync(ctx, desired, owned)
		}
	case sync:
		op = opSync
		added, removed, err = e.fw.Sync(ctx, desired, owned)
	default:
		if len(adds) > 0 {
			op = opAdd
			err = e.fw.Add(ctx, adds)
		}
		if err == nil && len(rms) > 0 {
			op = opRemove
			err = e.fw.Remove(ctx, rms)
		}
	}

	e.mu.Lock()
	defer e.mu.Unlock()
	if op == "" {
		e.finishLocked(seq, nil)
		return
	}
	if err != nil {
		e.m.fwErrors.WithLabelValues(op).Inc()
		// Put back what was not done; a later lift or block of the same
		// prefix (queued meanwhile) wins.
		for _, p := range adds {
			if _, rm := e.pendRm[p]; !rm {
				e.pendAdd[p] = struct{}{}
			}
		}
		for _, p := range rms {
			if _, add := e.pendAdd[p]; !add {
				e.pendRm[p] = struct{}{}
			}
		}
		e.needSetup = e.needSetup || setup
		e.needRest = e.needRest || restart
		// After a failed call firewalld's state is unknown: compare it all.
		e.needSync = true
		e.backoff = min(max(2*e.backoff, e.opts.MinBackoff), e.opts.MaxBackoff)
		e.retryAt = e.now().Add(e.backoff)
		e.setUpLocked(false, err.Error())
		e.logger.Error("firewalld call failed; desired state kept, retrying", "op", op, "retry_in", e.backoff, "err", err)
		e.finishLocked(seq, err)
		return
	}
	if !e.fwUp {
		e.logger.Info("firewalld answers; blocks are in place", "op", op)
	}
	e.setUpLocked(true, "")
	e.backoff, e.retryAt = 0, time.Time{}
	if sync {
		// What the sync changed beyond the queued work was lost or left
		// behind: a repair.
		repairs := max(0, added-len(adds)) + max(0, removed-len(rms))
		if repairs > 0 {
			e.m.repairs.Add(float64(repairs))
			e.logger.Info("reconcile repaired firewalld", "added", added, "removed", removed, "desired", len(desired))
		}
		e.lastSync = e.now()
		e.m.lastSync.Set(float64(e.lastSync.UnixNano()) / 1e9)
		rms = owned
		adds = desired
	}
	// Remember what firewalld confirmed. It is saved with the next change
	// (or at shutdown), not on its own: losing it in a crash only costs the
	// check in lostConfirmed one chance.
	for _, p := range adds {
		if b, ok := e.store.Get(p); ok && b.Active && !b.Applied {
			b.Applied = true
			e.store.Put(b)
		}
	}
	// Entries confirmed gone are no longer owned.
	changed := false
	for _, p := range rms {
		if b, ok := e.store.Get(p); ok && !b.Active && b.Installed {
			b.Installed = false
			e.store.Put(b)
			changed = true
		}
	}
	if e.pruneLocked(now) {
		changed = true
	}
	if changed {
		if err := e.store.Save(); err != nil {
			e.logger.Error("save state after lifting; the next reconcile tries again", "err", err)
		}
	}
	if !sync && len(rms) > 0 {
		// In ipset mode a lifted entry may have absorbed narrower blocks:
		// put them back.
		e.store.Each(func(b blockstore.Block) {
			if b.Active && !e.needSync {
				for _, p := range rms {
					if p.Overlaps(b.Prefix) {
						e.needSync = true
						e.wakeLocked()
						break
					}
				}
			}
		})
	}
	e.finishLocked(seq, nil)
}

// lostConfirmed reports whether firewalld lacks blocks it once confirmed:
// it reloaded or restarted while the responder was down. A crash leaves
// stale kernel rules that would keep ranges lifted from now on dropped, so
// the first sync then treats it as a restart (a reload, where allowed).
func (e *Engine) lostConfirmed(ctx context.Context, confirmed []netip.Prefix) bool {
	have, err := e.fw.List(ctx)
	if err != nil {
		e.logger.Warn("list firewalld's entries at start", "err", err)
		return false
	}
	set := make(map[netip.Prefix]bool, len(have))
	for _, p := range have {
		set[p] = true
	}
	missing := 0
	for _, p := range confirmed {
		if !set[p] {
			missing++
		}
	}
	if missing > 0 {
		e.logger.Info("firewalld lost blocks it held while the responder was down (a reload or a restart); handling it as a restart", "missing", missing)
	}
	return missing > 0
}

func (e *Engine) finishLocked(seq uint64, err error) {
	e.lastErr = err
	if seq > e.doneSeq {
		e.doneSeq = seq
	}
	close(e.done)
	e.done = make(chan struct{})
}
