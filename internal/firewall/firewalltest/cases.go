package firewalltest

import (
	"context"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/synguard/synguard/internal/firewall"
)

// The cases of the contract, one function each, in Run's order.

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
