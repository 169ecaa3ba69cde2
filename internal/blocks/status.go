package blocks

import (
	"net/netip"
	"time"

	"github.com/synguard/synguard/internal/blockstore"
	"github.com/synguard/synguard/internal/policy"
)

// Kinds of Recent.
const (
	KindAction  = "action"
	KindRefusal = "refusal"
)

// Recent is one recent action or refusal, for the status page.
type Recent struct {
	Time   time.Time
	Kind   string // KindAction or KindRefusal
	Action string // the action; "" for a refusal
	Result string // the action's result, or the refusal reason
	Prefix netip.Prefix
	Detail string
}

// recent keeps the last n actions and the last n refusals.
type recent struct {
	n                 int
	actions, refusals []Recent
}

func newRecent(n int) *recent { return &recent{n: n} }

func (r *recent) push(l *[]Recent, ev Recent) {
	*l = append(*l, ev)
	if len(*l) > 2*r.n {
		*l = append((*l)[:0], (*l)[len(*l)-r.n:]...)
	}
}

func (r *recent) action(t time.Time, action, result string, p netip.Prefix, detail string) {
	r.push(&r.actions, Recent{Time: t, Kind: KindAction, Action: action, Result: result, Prefix: p, Detail: detail})
}

func (r *recent) refusal(t time.Time, reason policy.Reason, p netip.Prefix, detail string) {
	r.push(&r.refusals, Recent{Time: t, Kind: KindRefusal, Result: string(reason), Prefix: p, Detail: detail})
}

func last(l []Recent, n int) []Recent {
	if len(l) > n {
		l = l[len(l)-n:]
	}
	out := make([]Recent, len(l))
	// Newest first.
	for i, ev := range l {
		out[len(l)-1-i] = ev
	}
	return out
}

// Backend is the driver's view of the firewall backend, for the status.
type Backend struct {
	// Name and Mode name the backend ("firewalld", "ipset"); Where says
	// where its entries live.
	Name, Mode, Where string
	// Up: the backend answered the last call.
	Up bool
	// Detail is the last error while it is not up.
	Detail string
	// LastReconcile is when the firewall last matched the desired state.
	LastReconcile time.Time
	// Syncing: a full reconcile is due or running, so no block is known to
	// be in place until it ends.
	Syncing bool
}

// Status is a read-only snapshot for the operator API and the status page.
// It never waits on the firewall.
type Status struct {
	Now            time.Time
	Host           string
	Paused, DryRun bool
	Backend        Backend
	// Blocks are the active blocks, sorted by prefix; Pending says which of
	// them are not yet confirmed by the firewall.
	Blocks  []blockstore.Block
	Pending map[netip.Prefix]bool
	// Waiting are the firing alerts waiting for the rate limit or the cap.
	Waiting  []Waiting
	Actions  []Recent
	Refusals []Recent
}

// Status returns a snapshot of the blocks; its Backend part is the
// driver's to fill (reconcile.Driver.Status).
func (l *Ledger) Status() Status {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := Status{
		Now: l.now(), Host: l.pol.Host, Paused: l.store.Paused(), DryRun: l.pol.DryRun,
		Pending:  map[netip.Prefix]bool{},
		Waiting:  l.waitingLocked(),
		Actions:  last(l.recent.actions, l.recent.n),
		Refusals: last(l.recent.refusals, l.recent.n),
	}
	for _, b := range l.store.Blocks() {
		if b.Active {
			s.Blocks = append(s.Blocks, b)
			if !b.Applied {
				s.Pending[b.Prefix] = true
			}
		}
	}
	return s
}

// Blocks returns every record of the store (lifted ones too), sorted.
func (l *Ledger) Blocks() []blockstore.Block {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.store.Blocks()
}
