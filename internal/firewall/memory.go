package firewall

import (
	"context"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/synguard/synguard/internal/prefix"
)

// Memory is a Backend that keeps its entries in memory. It is the backend of
// unit tests and of the contract suite's reference run, and what a dry run
// could use; it drops nothing. Its methods beyond Backend let a test play
// the firewall underneath: an operator's own entry, a reload, a restart, an
// outage, a prefix the firewall refuses.
type Memory struct {
	mu       sync.Mutex
	entries  map[netip.Prefix]memEntry
	prepared bool
	down     error
	refuse   map[netip.Prefix]error
	watchers map[int]func(Event)
	nextW    int
	calls    map[string]int
}

type memEntry struct {
	expiry time.Time
	theirs bool // an entry that is not synguard's
}

var _ Backend = (*Memory)(nil)

// NewMemory returns an empty, unprepared Memory backend.
func NewMemory() *Memory {
	return &Memory{
		entries:  map[netip.Prefix]memEntry{},
		refuse:   map[netip.Prefix]error{},
		watchers: map[int]func(Event){},
		calls:    map[string]int{},
	}
}

// Describe implements Backend.
func (m *Memory) Describe() Description {
	return Description{Backend: "memory", Where: "process memory"}
}

// begin counts a call and returns the error a down backend answers with.
func (m *Memory) begin(op string, needPrepared bool) error {
	m.calls[op]++
	if m.down != nil {
		return fmt.Errorf("memory backend %s: %w", op, m.down)
	}
	if needPrepared && !m.prepared {
		return fmt.Errorf("memory backend %s: %w", op, ErrNotPrepared)
	}
	return nil
}

// Prepare implements Backend.
func (m *Memory) Prepare(ctx context.Context, held []netip.Prefix) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.begin("prepare", false); err != nil {
		return err
	}
	m.prepared = true
	return nil
}

func (m *Memory) addLocked(e Entry) Result {
	p, err := Check(e.Prefix)
	if err != nil {
		return Result{Prefix: p, Outcome: Refused, Err: err}
	}
	if err, ok := m.refuse[p]; ok {
		return Result{Prefix: p, Outcome: Refused, Err: err}
	}
	if old, ok := m.entries[p]; ok && old.theirs {
		return Result{Prefix: p, Outcome: Preexisting}
	}
	m.entries[p] = memEntry{expiry: e.Expiry}
	return Result{Prefix: p, Outcome: Applied}
}

func (m *Memory) removeLocked(p netip.Prefix) Result {
	p, err := Check(p)
	if err != nil {
		return Result{Prefix: p, Outcome: Refused, Err: err}
	}
	if err, ok := m.refuse[p]; ok {
		return Result{Prefix: p, Outcome: Refused, Err: err}
	}
	if old, ok := m.entries[p]; ok && old.theirs {
		// Never synguard's: the contract says it stays.
		return Result{Prefix: p, Outcome: Preexisting}
	}
	delete(m.entries, p)
	return Result{Prefix: p, Outcome: Removed}
}

// Add implements Backend.
func (m *Memory) Add(ctx context.Context, entries []Entry) ([]Result, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.begin("add", true); err != nil {
		return nil, err
	}
	out := make([]Result, 0, len(entries))
	for _, e := range entries {
		p := prefix.Canonical(e.Prefix)
		if _, held := m.entries[p]; !held || m.entries[p].theirs {
			out = append(out, m.addLocked(e))
			continue
		}
		m.entries[p] = memEntry{expiry: e.Expiry}
		out = append(out, Result{Prefix: p, Outcome: Applied})
	}
	return out, nil
}

// Remove implements Backend.
func (m *Memory) Remove(ctx context.Context, ps []netip.Prefix) ([]Result, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.begin("remove", true); err != nil {
		return nil, err
	}
	out := make([]Result, 0, len(ps))
	for _, p := range ps {
		out = append(out, m.removeLocked(p))
	}
	return out, nil
}

// Sync implements Backend.
func (m *Memory) Sync(ctx context.Context, desired []Entry, owned []netip.Prefix) (SyncResult, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.begin("sync", true); err != nil {
		return SyncResult{}, err
	}
	var res SyncResult
	want := map[netip.Prefix]bool{}
	for _, e := range desired {
		p := prefix.Canonical(e.Prefix)
		want[p] = true
		_, had := m.entries[p]
		r := m.addLocked(e)
		if r.Outcome == Applied && !had {
			res.Added++
		}
		res.Results = append(res.Results, r)
	}
	for _, p := range owned {
		p = prefix.Canonical(p)
		if want[p] {
			continue
		}
		old, had := m.entries[p]
		if had && old.theirs {
			continue
		}
		r := m.removeLocked(p)
		if r.Outcome == Removed && had {
			res.Removed++
		}
		res.Results = append(res.Results, r)
	}
	return res, nil
}

// List implements Backend.
func (m *Memory) List(ctx context.Context) ([]netip.Prefix, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.begin("list", false); err != nil {
		return nil, err
	}
	return m.prefixesLocked(func(memEntry) bool { return true }), nil
}

// Purge implements Backend.
func (m *Memory) Purge(ctx context.Context, owned []netip.Prefix) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.begin("purge", false); err != nil {
		return err
	}
	for _, p := range owned {
		m.removeLocked(p)
	}
	return nil
}

// Watch implements Backend.
func (m *Memory) Watch(ctx context.Context, notify func(Event)) error {
	m.mu.Lock()
	id := m.nextW
	m.nextW++
	m.watchers[id] = notify
	m.mu.Unlock()
	<-ctx.Done()
	m.mu.Lock()
	delete(m.watchers, id)
	m.mu.Unlock()
	return ctx.Err()
}

func (m *Memory) prefixesLocked(keep func(memEntry) bool) []netip.Prefix {
	var out []netip.Prefix
	for _, p := range slices.SortedFunc(maps.Keys(m.entries), prefix.Compare) {
		if keep(m.entries[p]) {
			out = append(out, p)
		}
	}
	return out
}

func (m *Memory) emitLocked(k EventKind, detail string) {
	ev := Event{Kind: k, Time: time.Now(), Detail: detail}
	for _, n := range m.watchers {
		// Outside the caller's lock order: notify may call back into m.
		go n(ev)
	}
}

// Preexisting adds entries that are not synguard's, as an operator's own
// drop sources are.
func (m *Memory) Preexisting(ps ...netip.Prefix) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, p := range ps {
		m.entries[prefix.Canonical(p)] = memEntry{theirs: true}
	}
}

// Owned returns synguard's entries, sorted.
func (m *Memory) Owned() []netip.Prefix {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.prefixesLocked(func(e memEntry) bool { return !e.theirs })
}

// Expiry returns the expiry synguard's entry for p carries.
func (m *Memory) Expiry(p netip.Prefix) (time.Time, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.entries[prefix.Canonical(p)]
	return e.expiry, ok && !e.theirs
}

// Reload drops synguard's entries, as a firewall reload drops runtime
// entries, and sends a Reloaded event.
func (m *Memory) Reload() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.dropOwnLocked()
	m.emitLocked(Reloaded, "memory reload")
}

// Restart drops synguard's entries and sends a Restarted event.
func (m *Memory) Restart() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.dropOwnLocked()
	m.down = nil
	m.emitLocked(Restarted, "memory restart")
}

func (m *Memory) dropOwnLocked() {
	for p, e := range m.entries {
		if !e.theirs {
			delete(m.entries, p)
		}
	}
}

// SetDown makes every call fail with err (nil: answer again), as an
// unreachable firewall does. Going down sends a Stopped event; coming back
// is a restart (entries gone, Restarted sent), as a firewall service that
// stopped starts empty.
func (m *Memory) SetDown(err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	was := m.down
	m.down = err
	switch {
	case err != nil && was == nil:
		m.emitLocked(Stopped, err.Error())
	case err == nil && was != nil:
		m.dropOwnLocked()
		m.emitLocked(Restarted, "memory back up")
	}
}

// Refuse makes the backend refuse p with err (nil: accept it again).
func (m *Memory) Refuse(p netip.Prefix, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p = prefix.Canonical(p)
	if err == nil {
		delete(m.refuse, p)
		return
	}
	m.refuse[p] = err
}

// Calls returns how many times op ("add", "remove", "sync", "prepare",
// "list", "purge") was called.
func (m *Memory) Calls(op string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.calls[op]
}
