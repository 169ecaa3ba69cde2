package firewalltest

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/synguard/synguard/internal/firewall"
)

// Under acts on the firewall underneath a backend, as an operator or the
// system would, without the backend knowing. A method the setup cannot do
// returns an error wrapping ErrCannot, saying why; the cases that need it
// are skipped for that setup.
type Under interface {
	// AddForeign makes p an operator's own drop entry.
	AddForeign(p netip.Prefix) error
	// HasForeign reports whether the operator's own entry for p is there.
	HasForeign(p netip.Prefix) (bool, error)
	// Reload drops the firewall's runtime entries (firewall-cmd --reload).
	Reload() error
	// Restart stops and starts the firewall's service.
	Restart() error
	// Stop makes the firewall unreachable; Start brings it back.
	Stop() error
	Start() error
	// Refuse makes the firewall refuse p, and only p.
	Refuse(p netip.Prefix) error
}

// ErrCannot is wrapped by an Under method the setup cannot do.
var ErrCannot = errors.New("this setup cannot")

// Setup is one backend, fresh and not yet prepared, over its own firewall.
type Setup struct {
	Backend firewall.Backend
	Under   Under
	// TakesForeign says the backend keeps its entries apart from the
	// operator's (ipsets of its own), so that Add of a prefix the operator
	// drops too is Applied, as synguard's own entry beside the operator's;
	// otherwise such an Add is Preexisting.
	TakesForeign bool
	// Expiry returns the expiry the backend holds for p, for a backend that
	// keeps one; nil for a backend that ignores expiry.
	Expiry func(p netip.Prefix) (time.Time, bool)
	// Within bounds waiting for an event or a recovery.
	Within time.Duration
}

// Prefixes of the suite: documentation ranges only.
var (
	p4     = netip.MustParsePrefix("198.51.100.32/27")
	p6     = netip.MustParsePrefix("2001:db8:5:1::/64")
	wide   = netip.MustParsePrefix("203.0.113.0/24")
	narrow = netip.MustParsePrefix("203.0.113.64/27")
	other  = netip.MustParsePrefix("192.0.2.128/25")
)

// Run runs every case of the contract, each on a fresh setup from
// newSetup.
func Run(t *testing.T, newSetup func(t *testing.T) Setup) {
	for _, c := range []struct {
		name string
		fn   func(t *testing.T, s Setup)
	}{
		{"AddListRemove", addListRemove},
		{"Idempotent", idempotent},
		{"RefusedPrefixAlone", refusedAlone},
		{"PreexistingNeverTouched", preexisting},
		{"Overlap", overlap},
		{"SyncRepairsReload", syncRepairs},
		{"Events", events},
		{"Unreachable", unreachable},
		{"Expiry", expiry},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := newSetup(t)
			if s.Within == 0 {
				s.Within = 30 * time.Second
			}
			if err := s.Backend.Prepare(ctx(t), nil); err != nil {
				t.Fatalf("Prepare: %v", err)
			}
			c.fn(t, s)
		})
	}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return c
}

// need fails the test on err, or skips it when the setup cannot.
func need(t *testing.T, what string, err error) {
	t.Helper()
	if errors.Is(err, ErrCannot) {
		t.Skipf("%s: %v", what, err)
	}
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func entries(ps ...netip.Prefix) []firewall.Entry {
	out := make([]firewall.Entry, len(ps))
	for i, p := range ps {
		out[i] = firewall.Entry{Prefix: p}
	}
	return out
}

// outcomes checks rs against want, in order.
func outcomes(t *testing.T, what string, rs []firewall.Result, want ...firewall.Outcome) {
	t.Helper()
	if len(rs) != len(want) {
		t.Fatalf("%s: %d results %v, want %d", what, len(rs), rs, len(want))
	}
	for i, r := range rs {
		if r.Outcome != want[i] {
			t.Errorf("%s: %v is %v (err %v), want %v", what, r.Prefix, r.Outcome, r.Err, want[i])
		}
		if (r.Outcome == firewall.Refused) != (r.Err != nil) {
			t.Errorf("%s: %v is %v with err %v: only a refusal carries one", what, r.Prefix, r.Outcome, r.Err)
		}
	}
}

func list(t *testing.T, b firewall.Backend) []netip.Prefix {
	t.Helper()
	ps, err := b.List(ctx(t))
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	return ps
}

// holds checks which of ps List shows.
func holds(t *testing.T, what string, b firewall.Backend, in []netip.Prefix, out []netip.Prefix) {
	t.Helper()
	got := list(t, b)
	for _, p := range in {
		if !slices.Contains(got, p) {
			t.Errorf("%s: List %v lacks %v", what, got, p)
		}
	}
	for _, p := range out {
		if slices.Contains(got, p) {
			t.Errorf("%s: List %v holds %v", what, got, p)
		}
	}
}

func addListRemove(t *testing.T, s Setup) {
	b := s.Backend
	rs, err := b.Add(ctx(t), entries(p4, p6))
	if err != nil {
		t.Fatalf("Add: %v", err)
	}
	outcomes(t, "Add", rs, firewall.Applied, firewall.Applied)
	holds(t, "after Add", b, []netip.Prefix{p4, p6}, nil)
	rs, err = b.Remove(ctx(t), []netip.Prefix{p4, p6})
	if err != nil {
		t.Fatalf("Remove: %v", err)
	}
	outcomes(t, "Remove", rs, firewall.Removed, firewall.Removed)
	holds(t, "after Remove", b, nil, []netip.Prefix{p4, p6})
	// Host bits and mapped addresses are canonicalised before anything.
	rs, err = b.Add(ctx(t), entries(netip.MustParsePrefix("::ffff:198.51.100.33/123")))
	if err != nil {
		t.Fatalf("Add mapped: %v", err)
	}
	outcomes(t, "Add mapped", rs, firewall.Applied)
	if rs[0].Prefix != p4 {
		t.Errorf("mapped prefix became %v, want %v", rs[0].Prefix, p4)
	}
}

func idempotent(t *testing.T, s Setup) {
	b := s.Backend
	for i := 0; i < 2; i++ {
		rs, err := b.Add(ctx(t), entries(p4, p6))
		if err != nil {
			t.Fatalf("Add #%d: %v", i+1, err)
		}
		outcomes(t, "Add again", rs, firewall.Applied, firewall.Applied)
	}
	// other is new the first time only.
	for i, want := range []int{1, 0} {
		sr, err := b.Sync(ctx(t), entries(p4, p6, other), []netip.Prefix{p4, p6})
		if err != nil {
			t.Fatalf("Sync #%d: %v", i+1, err)
		}
		if sr.Added != want || sr.Removed != 0 {
			t.Errorf("Sync #%d = +%d -%d, want +%d -0", i+1, sr.Added, sr.Removed, want)
		}
	}
	for i := 0; i < 2; i++ {
		rs, err := b.Remove(ctx(t), []netip.Prefix{p4, p6, other})
		if err != nil {
			t.Fatalf("Remove #%d: %v", i+1, err)
		}
		outcomes(t, "Remove again", rs, firewall.Removed, firewall.Removed, firewall.Removed)
	}
	holds(t, "after Removes", b, nil, []netip.Prefix{p4, p6, other})
}

func refusedAlone(t *testing.T, s Setup) {
	b := s.Backend
	// Invalid prefixes are refused one by one, never the call.
	rs, err := b.Add(ctx(t), entries(p4, netip.Prefix{}, netip.MustParsePrefix("0.0.0.0/0"), p6))
	if err != nil {
		t.Fatalf("Add with invalid prefixes: %v", err)
	}
	outcomes(t, "Add with invalid prefixes", rs, firewall.Applied, firewall.Refused, firewall.Refused, firewall.Applied)
	need(t, "refuse a prefix", s.Under.Refuse(other))
	rs, err = b.Add(ctx(t), entries(wide, other, narrow))
	if err != nil {
		t.Fatalf("Add with a refused prefix: %v", err)
	}
	outcomes(t, "Add with a refused prefix", rs, firewall.Applied, firewall.Refused, firewall.Applied)
	holds(t, "after a refusal", b, []netip.Prefix{p4, p6, wide}, []netip.Prefix{other})
	sr, err := b.Sync(ctx(t), entries(p4, other), []netip.Prefix{p4, p6, wide, narrow})
	if err != nil {
		t.Fatalf("Sync with a refused prefix: %v", err)
	}
	outcomes(t, "Sync with a refused prefix", sr.Results, firewall.Applied, firewall.Refused, firewall.Removed, firewall.Removed, firewall.Removed)
	holds(t, "after Sync", b, []netip.Prefix{p4}, []netip.Prefix{p6, wide, other})
}

func preexisting(t *testing.T, s Setup) {
	b := s.Backend
	need(t, "add an operator's own entry", s.Under.AddForeign(wide))
	rs, err := b.Add(ctx(t), entries(wide, p4))
	if err != nil {
		t.Fatalf("Add: %v", err)
	}
	want := firewall.Preexisting
	if s.TakesForeign {
		want = firewall.Applied
	}
	outcomes(t, "Add of the operator's prefix", rs, want, firewall.Applied)
	owned := []netip.Prefix{p4}
	if s.TakesForeign {
		owned = append(owned, wide)
	}
	if _, err := b.Remove(ctx(t), []netip.Prefix{wide}); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	if _, err := b.Sync(ctx(t), nil, owned); err != nil {
		t.Fatalf("Sync: %v", err)
	}
	if err := b.Purge(ctx(t), owned); err != nil {
		t.Fatalf("Purge: %v", err)
	}
	ok, err := s.Under.HasForeign(wide)
	need(t, "look for the operator's entry", err)
	if !ok {
		t.Fatal("synguard removed the operator's own entry")
	}
	holds(t, "after Purge", b, nil, []netip.Prefix{p4})
}

func overlap(t *testing.T, s Setup) {
	b := s.Backend
	rs, err := b.Add(ctx(t), entries(narrow))
	if err != nil {
		t.Fatalf("Add narrow: %v", err)
	}
	outcomes(t, "Add narrow", rs, firewall.Applied)
	rs, err = b.Add(ctx(t), entries(wide, netip.MustParsePrefix("203.0.113.128/27")))
	if err != nil {
		t.Fatalf("Add wide: %v", err)
	}
	outcomes(t, "Add wide and one inside", rs, firewall.Applied, firewall.Applied)
	holds(t, "after Add wide", b, []netip.Prefix{wide}, nil)
	if _, err := b.Remove(ctx(t), []netip.Prefix{wide}); err != nil {
		t.Fatalf("Remove wide: %v", err)
	}
	holds(t, "after Remove wide", b, nil, []netip.Prefix{wide})
	sr, err := b.Sync(ctx(t), entries(narrow), []netip.Prefix{narrow, wide, netip.MustParsePrefix("203.0.113.128/27")})
	if err != nil {
		t.Fatalf("Sync: %v", err)
	}
	outcomes(t, "Sync", sr.Results, firewall.Applied, firewall.Removed, firewall.Removed)
	// The exact cover of desired: the narrow prefix, nothing wider.
	holds(t, "after Sync", b, []netip.Prefix{narrow}, []netip.Prefix{wide, netip.MustParsePrefix("203.0.113.128/27")})
}

func syncRepairs(t *testing.T, s Setup) {
	b := s.Backend
	desired := []netip.Prefix{p4, p6, narrow}
	if _, err := b.Add(ctx(t), entries(desired...)); err != nil {
		t.Fatalf("Add: %v", err)
	}
	need(t, "reload", s.Under.Reload())
	// Repair may wait for the reload to finish: bounded retries.
	var sr firewall.SyncResult
	var err error
	for deadline := time.Now().Add(s.Within); ; time.Sleep(100 * time.Millisecond) {
		if sr, err = b.Sync(ctx(t), entries(desired...), desired); err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		t.Fatalf("Sync after reload: %v", err)
	}
	if sr.Added != len(desired) || sr.Removed != 0 {
		t.Errorf("Sync after reload = +%d -%d, want +%d -0", sr.Added, sr.Removed, len(desired))
	}
	outcomes(t, "Sync after reload", sr.Results, firewall.Applied, firewall.Applied, firewall.Applied)
	holds(t, "after repair", b, desired, nil)
	sr, err = b.Sync(ctx(t), entries(desired...), desired)
	if err != nil || sr.Added+sr.Removed != 0 {
		t.Errorf("Sync in step = +%d -%d %v, want no change", sr.Added, sr.Removed, err)
	}
	sr, err = b.Sync(ctx(t), entries(p4, p6), desired)
	if err != nil || sr.Added != 0 || sr.Removed != 1 {
		t.Errorf("Sync dropping one = +%d -%d %v, want +0 -1", sr.Added, sr.Removed, err)
	}
	holds(t, "after dropping one", b, []netip.Prefix{p4, p6}, []netip.Prefix{narrow})
}

// watch runs Watch for the test and returns its events.
func watch(t *testing.T, b firewall.Backend) <-chan firewall.Event {
	wctx, cancel := context.WithCancel(context.Background())
	evs := make(chan firewall.Event, 64)
	done := make(chan error, 1)
	go func() {
		done <- b.Watch(wctx, func(ev firewall.Event) {
			select {
			case evs <- ev:
			default:
			}
		})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("Watch returned %v, want its context's error", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Watch did not return within 10s of its context ending")
		}
	})
	// Let the subscription settle before the test acts.
	time.Sleep(200 * time.Millisecond)
	return evs
}

// await waits for an event of kind k, skipping others.
func await(t *testing.T, s Setup, evs <-chan firewall.Event, k firewall.EventKind) firewall.Event {
	t.Helper()
	timeout := time.After(s.Within)
	for {
		select {
		case ev := <-evs:
			if ev.Kind == k {
				return ev
			}
		case <-timeout:
			t.Fatalf("no %v event within %v", k, s.Within)
		}
	}
}

func events(t *testing.T, s Setup) {
	b := s.Backend
	evs := watch(t, b)
	if _, err := b.Add(ctx(t), entries(p4)); err != nil {
		t.Fatalf("Add: %v", err)
	}
	need(t, "reload", s.Under.Reload())
	await(t, s, evs, firewall.Reloaded)
	need(t, "restart", s.Under.Restart())
	ev := await(t, s, evs, firewall.Restarted)
	if ev.Time.IsZero() || ev.Detail == "" {
		t.Errorf("event %+v: want its time and how it was noticed", ev)
	}
	// Restarted means prepared: a Sync puts the block back.
	if sr, err := b.Sync(ctx(t), entries(p4), []netip.Prefix{p4}); err != nil || sr.Added == 0 {
		t.Errorf("Sync after Restarted = %+v, %v; want the block restored", sr, err)
	}
	need(t, "stop", s.Under.Stop())
	await(t, s, evs, firewall.Stopped)
	need(t, "start", s.Under.Start())
	await(t, s, evs, firewall.Restarted)
}

func unreachable(t *testing.T, s Setup) {
	b := s.Backend
	if _, err := b.Add(ctx(t), entries(p4)); err != nil {
		t.Fatalf("Add: %v", err)
	}
	need(t, "stop", s.Under.Stop())
	if rs, err := b.Add(ctx(t), entries(p6)); err == nil {
		t.Errorf("Add while unreachable = %v, nil; want the call's error", rs)
	}
	if _, err := b.Sync(ctx(t), entries(p4, p6), []netip.Prefix{p4}); err == nil {
		t.Error("Sync while unreachable succeeded")
	}
	need(t, "start", s.Under.Start())
	var sr firewall.SyncResult
	var err error
	for deadline := time.Now().Add(s.Within); ; time.Sleep(200 * time.Millisecond) {
		sr, err = b.Sync(ctx(t), entries(p4, p6), []netip.Prefix{p4, p6})
		if errors.Is(err, firewall.ErrNotPrepared) {
			err = b.Prepare(ctx(t), []netip.Prefix{p4})
		}
		if err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		t.Fatalf("no recovery within %v: %v", s.Within, err)
	}
	outcomes(t, "Sync after recovery", sr.Results, firewall.Applied, firewall.Applied)
	holds(t, "after recovery", b, []netip.Prefix{p4, p6}, nil)
}

func expiry(t *testing.T, s Setup) {
	b := s.Backend
	at := time.Now().Add(time.Hour).Truncate(time.Second)
	rs, err := b.Add(ctx(t), []firewall.Entry{{Prefix: p4, Expiry: at}})
	if err != nil {
		t.Fatalf("Add with expiry: %v", err)
	}
	outcomes(t, "Add with expiry", rs, firewall.Applied)
	later := at.Add(time.Hour)
	if _, err := b.Add(ctx(t), []firewall.Entry{{Prefix: p4, Expiry: later}}); err != nil {
		t.Fatalf("Add renewing: %v", err)
	}
	holds(t, "after renewal", b, []netip.Prefix{p4}, nil)
	if s.Expiry == nil {
		t.Skip("the backend keeps no expiry: carried and ignored")
	}
	if got, ok := s.Expiry(p4); !ok || !got.Equal(later) {
		t.Errorf("expiry = %v %v, want %v (renewed)", got, ok, later)
	}
}
