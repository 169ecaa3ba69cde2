package blocks

import (
	"net/netip"
	"slices"
	"time"

	"github.com/synguard/synguard/internal/blockstore"
	"github.com/synguard/synguard/internal/policy"
)

// waitingMaxAge is how long a firing alert refused for the rate limit or
// the cap waits to be applied: Alertmanager's default repeat_interval, after
// which it sends the alert again anyway if it still fires.
const waitingMaxAge = time.Hour

// waitingAlert is a firing alert the rate limit or the cap refused, kept to
// be applied as soon as the limit allows while it still fires (no resolve
// for its prefix arrived). Without it such an alert would wait for
// Alertmanager's repeat_interval (an hour) while its prefix floods.
type waitingAlert struct {
	prefix netip.Prefix // canonical, the waiting map's key
	alert  policy.Alert
	since  time.Time
	reason policy.Reason
}

// Waiting is one alert waiting for the rate limit or the cap, for the
// operator API.
type Waiting struct {
	Prefix netip.Prefix
	Alert  string
	Since  time.Time
	// Reason is what it waits for: rate_limited or cap_reached.
	Reason policy.Reason
}

// waitLocked keeps a firing alert that d refused for the rate limit or the
// cap, at most as many as the cap on active blocks (the oldest goes first).
func (l *Ledger) waitLocked(a policy.Alert, d policy.Decision, now time.Time) {
	if !a.Firing || (d.Reason != policy.ReasonRateLimited && d.Reason != policy.ReasonCapReached) || !d.Prefix.IsValid() {
		return
	}
	if l.waiting == nil {
		l.waiting = map[netip.Prefix]waitingAlert{}
	}
	if old, ok := l.waiting[d.Prefix]; ok {
		now = old.since
	} else if len(l.waiting) >= l.pol.MaxActive {
		l.dropOldestWaitingLocked()
	}
	// Only the labels the policy reads, each clipped: what waits is bounded
	// in count and in size, whatever the sender put in.
	keep := map[string]string{l.pol.PrefixLabel: d.Prefix.String()}
	for _, k := range []string{policy.LabelAlertName, policy.LabelScope, l.pol.HostLabelName()} {
		if v, ok := a.Labels[k]; ok {
			keep[k] = policy.Clip(v)
		}
	}
	for k := range l.pol.Match {
		keep[k] = policy.Clip(a.Labels[k])
	}
	for k := range l.pol.MatchRE {
		keep[k] = policy.Clip(a.Labels[k])
	}
	a.Labels = keep
	a.Summary = policy.Clip(a.Summary)
	l.waiting[d.Prefix] = waitingAlert{prefix: d.Prefix, alert: a, since: now, reason: d.Reason}
	l.m.waiting.Set(float64(len(l.waiting)))
}

func (l *Ledger) dropOldestWaitingLocked() {
	var oldest netip.Prefix
	var t time.Time
	for p, w := range l.waiting {
		if t.IsZero() || w.since.Before(t) {
			oldest, t = p, w.since
		}
	}
	delete(l.waiting, oldest)
}

// unwaitLocked forgets the waiting alert of p: it resolved, or was blocked.
func (l *Ledger) unwaitLocked(p netip.Prefix) {
	if _, ok := l.waiting[p]; ok {
		delete(l.waiting, p)
		l.m.waiting.Set(float64(len(l.waiting)))
	}
}

// HasWaiting reports whether alerts wait for the rate limit or the cap; the
// driver then calls ApplyWaiting every second.
func (l *Ledger) HasWaiting() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.waiting) > 0
}

// ApplyWaiting admits the waiting alerts again, oldest first, and applies
// those the rate limit and the cap now let through, in one saved change. An
// alert the policy now refuses for another reason (paused, allowlisted) or
// older than an hour is forgotten; the first still limited ends the round.
func (l *Ledger) ApplyWaiting(now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.waiting) == 0 {
		return
	}
	ws := make([]waitingAlert, 0, len(l.waiting))
	for _, w := range l.waiting {
		ws = append(ws, w)
	}
	slices.SortFunc(ws, func(a, b waitingAlert) int { return a.since.Compare(b.since) })
	v := &view{l: l, now: now}
	c := l.newChange()
	var applied []netip.Prefix
	for _, w := range ws {
		p := w.prefix
		if now.Sub(w.since) > waitingMaxAge {
			delete(l.waiting, p)
			continue
		}
		d := l.pol.Admit(w.alert, v)
		if d.Verdict == policy.Refuse && d.Reason == policy.ReasonCapReached && l.widenLocked(c, v, p, w.alert.Name()) {
			delete(l.waiting, p)
			applied = append(applied, p)
			continue
		}
		if d.Verdict == policy.Refuse && (d.Reason == policy.ReasonRateLimited || d.Reason == policy.ReasonCapReached) {
			break
		}
		delete(l.waiting, p)
		if d.Verdict != policy.Block || d.DryRun {
			continue
		}
		old, _ := l.store.Get(d.Prefix)
		nb := newBlock(d, old, now)
		nb.Source, nb.Alert, nb.Reason = blockstore.SourceAlert, w.alert.Name(), w.alert.Summary
		c.block(nb)
		v.pending++
		applied = append(applied, p)
		since := w.since
		c.then(func() { l.record(ActionBlock, ResultOK, nb, "waited", now.Sub(since).Round(time.Millisecond).String()) })
		l.widenLocked(c, v, nb.Prefix, w.alert.Name())
	}
	if err := c.commit(); err != nil {
		// Put them back: the next round tries again.
		for _, w := range ws {
			if slices.Contains(applied, w.prefix) {
				l.waiting[w.prefix] = w
			}
		}
		l.logger.Error("save state for waiting alerts; retried", "err", err)
	}
	l.m.waiting.Set(float64(len(l.waiting)))
}

// waitingLocked lists the waiting alerts, oldest first.
func (l *Ledger) waitingLocked() []Waiting {
	out := make([]Waiting, 0, len(l.waiting))
	for p, w := range l.waiting {
		out = append(out, Waiting{Prefix: p, Alert: w.alert.Name(), Since: w.since, Reason: w.reason})
	}
	slices.SortFunc(out, func(a, b Waiting) int { return a.Since.Compare(b.Since) })
	return out
}
