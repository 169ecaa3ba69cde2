package reconcile

import (
	"net/netip"
	"time"

	"github.com/synguard/synguard/internal/blockstore"
	"github.com/synguard/synguard/internal/policy"
)

// Event kinds in Recent.
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

// Status is a read-only snapshot of the engine for the operator API and
// the status page. It never waits on firewalld.
type Status struct {
	Now            time.Time
	Host           string
	Paused, DryRun bool
	Mode, Zone     string
	FirewalldUp    bool
	// FirewalldDetail is the last error while firewalld is not up.
	FirewalldDetail string
	LastReconcile   time.Time
	// Blocks are the active blocks, sorted by prefix; Pending says which of
	// them are not yet confirmed in firewalld.
	Blocks   []blockstore.Block
	Pending  map[netip.Prefix]bool
	Actions  []Recent
	Refusals []Recent
}

// Status returns a snapshot of the engine.
func (e *Engine) Status() Status {
	e.mu.Lock()
	defer e.mu.Unlock()
	s := Status{
		Now: e.now(), Host: e.pol.Host, Paused: e.store.Paused(), DryRun: e.pol.DryRun,
		Mode: e.opts.Mode, Zone: e.opts.Zone,
		FirewalldUp: e.fwUp, FirewalldDetail: e.fwDetail, LastReconcile: e.lastSync,
		Pending:  map[netip.Prefix]bool{},
		Actions:  last(e.recent.actions, e.recent.n),
		Refusals: last(e.recent.refusals, e.recent.n),
	}
	for _, b := range e.store.Blocks() {
		if b.Active {
			s.Blocks = append(s.Blocks, b)
			if _, ok := e.pendAdd[b.Prefix]; ok || e.needSync {
				s.Pending[b.Prefix] = true
			}
		}
	}
	return s
}

// Blocks returns every record of the store (lifted ones too), sorted.
func (e *Engine) Blocks() []blockstore.Block {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.store.Blocks()
}
