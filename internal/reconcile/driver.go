package reconcile

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/synguard/synguard/internal/blocks"
	"github.com/synguard/synguard/internal/firewall"
)

// Options configure a Driver.
type Options struct {
	// Ledger is what the driver applies (required).
	Ledger *blocks.Ledger
	// Backend is the firewall (required).
	Backend firewall.Backend
	// Registerer gets the driver's metrics (required).
	Registerer prometheus.Registerer
	Logger     *slog.Logger
	// Interval is the period of the full reconcile (default 1 min).
	Interval time.Duration
	// MinBackoff and MaxBackoff bound the retry delay while the backend
	// fails (defaults 500 ms and 30 s).
	MinBackoff, MaxBackoff time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Settle bounds how long a step waits, before it takes the queued
	// work, for a burst of notifications to end (blocks.Ledger.WaitQuiet:
	// until none has arrived for its quiet gap), at most Settle (default
	// 1 s; negative: never waits). A lone notification never waits.
	Settle time.Duration
}

// DefaultSettle is Options.Settle's default: about what one firewalld call
// of 10,000 ipset entries costs (setEntries of the whole set).
const DefaultSettle = time.Second

// Driver keeps the firewall equal to the ledger's blocks. It embeds the
// Ledger, so that the webhook and the operator API see one responder:
// decisions go to the ledger, Flush and Status add what the driver knows.
type Driver struct {
	*blocks.Ledger
	opts   Options
	fw     firewall.Backend
	desc   firewall.Description
	logger *slog.Logger
	m      *metrics
	now    func() time.Time

	mu          sync.Mutex
	needPrepare bool
	needSync    bool
	// reloaded: the next sync follows a reload or restart the backend
	// reported, so its repairs are explained (counted apart).
	reloaded bool
	up       bool
	detail   string
	lastSync time.Time
	retryAt  time.Time
	backoff  time.Duration
	reqSeq   uint64
	doneSeq  uint64
	lastErr  error
	done     chan struct{} // closed and replaced after each step
	// saveRetryAt and saveBackoff space the expiries retried after the
	// state file could not be written (disk full, read-only): the due
	// blocks stay in the firewall meanwhile.
	saveRetryAt time.Time
	saveBackoff time.Duration
	// said is the backend failure last logged at ERROR, when, and how
	// many times it recurred since: a backend that keeps refusing the
	// same way (a firewalld that cannot load an ipset) is said once and
	// then every failureRepeatLog, not at each retry.
	said      string
	saidAt    time.Time
	saidAgain int

	kick chan struct{}
}

// New returns a Driver; Run starts it.
func New(opts Options) (*Driver, error) {
	if opts.Ledger == nil || opts.Backend == nil || opts.Registerer == nil {
		return nil, errors.New("reconcile: ledger, backend and registerer are required")
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
	if opts.Settle == 0 {
		opts.Settle = DefaultSettle
	}
	desc := opts.Backend.Describe()
	d := &Driver{
		Ledger: opts.Ledger, opts: opts, fw: opts.Backend, desc: desc, logger: opts.Logger,
		m: newMetrics(opts.Registerer, desc), now: opts.Now,
		needPrepare: true, needSync: true,
		done: make(chan struct{}), kick: make(chan struct{}, 1),
	}
	opts.Ledger.SetWake(d.wake)
	return d, nil
}

// wake asks for a step soon: the ledger queued work. The ledger calls it
// under its own lock, so the driver never calls the ledger under d.mu.
func (d *Driver) wake() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.wakeLocked()
}

func (d *Driver) wakeLocked() {
	d.reqSeq++
	select {
	case d.kick <- struct{}{}:
	default:
	}
}

// Notify tells the driver what happened to the firewall underneath (the
// backend's Watch calls it).
func (d *Driver) Notify(ev firewall.Event) {
	d.mu.Lock()
	defer d.mu.Unlock()
	switch ev.Kind {
	case firewall.Reloaded:
		d.logger.Info("firewall reloaded; restoring blocks", "backend", d.desc.String(), "detail", ev.Detail)
		d.needSync, d.reloaded = true, true
	case firewall.Restarted:
		d.logger.Info("firewall restarted; restoring blocks", "backend", d.desc.String(), "detail", ev.Detail)
		d.needSync, d.reloaded = true, true
	case firewall.Stopped:
		d.logger.Warn("firewall stopped; blocks are kept and restored when it is back", "backend", d.desc.String(), "detail", ev.Detail)
		d.setUpLocked(false, "stopped")
		return
	default:
		return
	}
	d.retryAt, d.backoff = time.Time{}, 0
	d.wakeLocked()
}

func (d *Driver) setUpLocked(up bool, detail string) {
	d.up, d.detail = up, detail
	if up {
		d.said, d.saidAgain = "", 0
		d.m.up.Set(1)
	} else {
		d.m.up.Set(0)
	}
}

// Flush runs a step now (unless the backend is in backoff, then at its
// retry) and waits for it; it returns that step's error.
func (d *Driver) Flush(ctx context.Context) error {
	d.mu.Lock()
	d.wakeLocked()
	want := d.reqSeq
	for d.doneSeq < want {
		done := d.done
		d.mu.Unlock()
		select {
		case <-done:
		case <-ctx.Done():
			return ctx.Err()
		}
		d.mu.Lock()
	}
	err := d.lastErr
	d.mu.Unlock()
	return err
}

// Status returns the ledger's snapshot with the backend's part filled in.
func (d *Driver) Status() blocks.Status {
	s := d.Ledger.Status()
	d.mu.Lock()
	defer d.mu.Unlock()
	s.Backend = blocks.Backend{
		Name: d.desc.Backend, Mode: d.desc.Mode, Where: d.desc.Where,
		Up: d.up, Detail: d.detail, LastReconcile: d.lastSync, Syncing: d.needSync || d.needPrepare,
	}
	if s.Backend.Syncing {
		for _, b := range s.Blocks {
			s.Pending[b.Prefix] = true
		}
	}
	return s
}

// Run drives the backend until ctx ends: first it lifts what expired while
// the responder was down, then it prepares the backend and makes the
// firewall match, and from then on it applies the ledger's work, enforces
// expiry, runs a full reconcile every Interval and after the backend's
// events, and retries failures with backoff.
func (d *Driver) Run(ctx context.Context) {
	wctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); _ = d.fw.Watch(wctx, d.Notify) }()
	defer wg.Wait()
	defer stop()

	periodic := d.now().Add(d.opts.Interval)
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		d.step(ctx)
		now := d.now()
		if !now.Before(periodic) {
			d.mu.Lock()
			d.needSync = true
			d.mu.Unlock()
			periodic = now.Add(d.opts.Interval)
			d.Ledger.RefreshOwn()
			continue
		}
		wake := periodic
		d.mu.Lock()
		saveRetry := d.saveRetryAt
		d.mu.Unlock()
		// The ledger's lock is never taken under the driver's: the ledger
		// calls wake, which takes the driver's, under its own.
		if next, ok := d.Ledger.NextExpiry(); ok {
			if next.Before(saveRetry) {
				// A due expiry whose save failed waits for its retry.
				next = saveRetry
			}
			if next.Before(wake) {
				wake = next
			}
		}
		if d.Ledger.HasWaiting() {
			// Alerts wait for the rate limit: look again in a second.
			if soon := now.Add(time.Second); soon.Before(wake) {
				wake = soon
			}
		}
		d.mu.Lock()
		if !d.retryAt.IsZero() && d.retryAt.Before(wake) {
			wake = d.retryAt
		}
		d.mu.Unlock()
		timer.Reset(max(wake.Sub(now), time.Millisecond))
		select {
		case <-ctx.Done():
			d.checkpoint()
			return
		case <-timer.C:
		case <-d.kick:
			d.mu.Lock()
			wait := d.retryAt.Sub(d.now())
			d.mu.Unlock()
			if wait > 0 {
				// In backoff: keep the kick for the retry.
				if !timer.Stop() {
					<-timer.C
				}
				timer.Reset(wait)
				select {
				case <-ctx.Done():
					d.checkpoint()
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

// checkpoint saves what the firewall confirmed, as the driver stops.
func (d *Driver) checkpoint() {
	if err := d.Ledger.Checkpoint(); err != nil {
		d.logger.Warn("save state at exit", "err", err)
	}
}
